import { mkdir, rmdir, stat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';

export type LockResult =
  | { readonly kind: 'locked'; release(): Promise<void> }
  | { readonly kind: 'busy'; readonly pid: number | undefined }
  | { readonly kind: 'unusable'; readonly reason: string };

const LOCK_SOCKET = 'otactl.lock';
const TAKEOVER_DIR = 'otactl.lock.takeover';
/** sun_path holds 108 bytes on Linux and 104 on macOS, including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 103;
/** A takeover lasts microseconds; a takeover directory this old was left by a process killed in it. */
const STALE_TAKEOVER_MS = 10_000;
const HOLDER_ANSWER_MS = 1_000;

/**
 * PGlite is a single-process database: two controllers on one data directory would corrupt it.
 * The holder listens on a Unix socket in the directory; the kernel closes it when the holder dies
 * however it dies, so liveness is "does anyone accept a connection", never a PID (a restarted
 * container's controller is PID 1 again, and so was the dead one). A socket file nobody listens
 * on (ECONNREFUSED) is stale and is replaced; a live holder answers with its PID for the error.
 */
export async function lockDataDir(dir: string): Promise<LockResult> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, LOCK_SOCKET);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    return {
      kind: 'unusable',
      reason: `its lock socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter data directory path`,
    };
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const bound = await listen(path);
    if (bound.kind === 'listening') return { kind: 'locked', release: () => closeServer(bound.server) };
    const holder = await askHolder(path);
    if (holder.kind === 'alive') return { kind: 'busy', pid: holder.pid };
    if (holder.kind === 'stale') await takeOver(dir, path);
    // 'gone': the holder just released it; bind again
  }
  throw new Error(`could not lock ${path}: it keeps changing hands`);
}

type Listen = { readonly kind: 'listening'; readonly server: Server } | { readonly kind: 'in-use' };

function listen(path: string): Promise<Listen> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.end(`${process.pid}\n`);
    });
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve({ kind: 'in-use' });
      else reject(error);
    });
    server.listen(path, () => {
      server.unref(); // the lock alone must not keep the process alive
      resolve({ kind: 'listening', server });
    });
  });
}

function closeServer(server: Server): Promise<void> {
  // closing a listening Unix socket removes its file
  return new Promise((resolve) => server.close(() => resolve()));
}

type Holder =
  | { readonly kind: 'alive'; readonly pid: number | undefined }
  | { readonly kind: 'stale' }
  | { readonly kind: 'gone' };

function askHolder(path: string): Promise<Holder> {
  return new Promise((resolve) => {
    let answer = '';
    let connected = false;
    const socket = connect(path);
    const done = (holder: Holder) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(holder);
    };
    const alive = () => {
      const pid = Number(answer.trim());
      done({ kind: 'alive', pid: Number.isSafeInteger(pid) && pid > 0 ? pid : undefined });
    };
    // a holder whose event loop is stuck still holds the lock: it accepted, it just does not answer
    const timer = setTimeout(alive, HOLDER_ANSWER_MS);
    socket.on('connect', () => {
      connected = true;
    });
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.length > 32) alive();
    });
    socket.on('end', alive);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (connected) alive();
      else if (error.code === 'ECONNREFUSED') done({ kind: 'stale' });
      else if (error.code === 'ENOENT') done({ kind: 'gone' });
      else done({ kind: 'alive', pid: undefined }); // cannot tell: refuse rather than risk two holders
    });
  });
}

/**
 * Removes a stale socket file. Two processes that both found it stale must not both remove it
 * (the second would unlink the first one's fresh socket): the removal happens inside a directory
 * created exclusively, after checking once more that nobody listens.
 */
async function takeOver(dir: string, path: string): Promise<void> {
  const guard = join(dir, TAKEOVER_DIR);
  try {
    await mkdir(guard);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const info = await stat(guard).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > STALE_TAKEOVER_MS) await rmdir(guard).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 20)); // another process is taking over
    return;
  }
  try {
    if ((await askHolder(path)).kind === 'stale') await unlink(path).catch(() => {});
  } finally {
    await rmdir(guard).catch(() => {});
  }
}
