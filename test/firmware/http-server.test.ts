import { utimes, writeFile } from 'node:fs/promises';
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFirmwareCatalog } from '../../controller/firmware/build-catalog.js';
import {
  createDownloadStats,
  type DownloadEvent,
  type DownloadStats,
} from '../../controller/firmware/download-stats.js';
import {
  type RunningFirmwareServer,
  startFirmwareHttpServer,
} from '../../controller/firmware/http/server.js';
import { createFirmwareImageCache } from '../../controller/firmware/image-cache.js';
import {
  type FirmwareDir,
  get,
  makeFirmwareDir,
  rawGet,
  rawRequest,
  statusOf,
  writeImage,
} from './helpers.js';

let fw: FirmwareDir;
let server: RunningFirmwareServer;
let diskServer: RunningFirmwareServer;
let image: { data: Buffer; sha256: string };
const stats = createDownloadStats();

beforeAll(async () => {
  fw = await makeFirmwareDir();
  image = await writeImage(fw.dir, 'sensor-1.2.0.bin', 100_000);
  await writeImage(fw.dir, 'undeclared.bin', 10);
  const { catalog, problems } = await buildFirmwareCatalog(fw.dir, [
    { file: 'sensor-1.2.0.bin', sha256: image.sha256 },
  ]);
  expect(problems).toEqual([]);
  server = await startFirmwareHttpServer({ port: 0, host: '127.0.0.1', catalog, stats });
  const images = createFirmwareImageCache({ maxImageBytes: 0 });
  diskServer = await startFirmwareHttpServer({ port: 0, host: '127.0.0.1', catalog, images });
});

afterAll(async () => {
  await server?.close();
  await diskServer?.close();
  await fw?.remove();
});

describe('GET /binaries/<file>', () => {
  it('serves a declared file byte-exact with a strong ETag, Content-Length and Accept-Ranges', async () => {
    const res = await get(server.port, '/binaries/sensor-1.2.0.bin');
    expect(res.status).toBe(200);
    expect(res.body.equals(image.data)).toBe(true);
    expect(res.headers.etag).toBe(`"${image.sha256}"`);
    expect(res.headers['content-length']).toBe(String(image.data.length));
    expect(res.headers['accept-ranges']).toBe('bytes');
  });

  it('serves the image as-is even when the client accepts gzip', async () => {
    const res = await get(server.port, '/binaries/sensor-1.2.0.bin', {
      headers: { 'Accept-Encoding': 'gzip' },
    });
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.body.equals(image.data)).toBe(true);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const raw = await rawRequest(
      server.port,
      'HEAD /binaries/sensor-1.2.0.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(statusOf(raw)).toBe(200);
    expect(raw).toContain(`Content-Length: ${image.data.length}`);
    expect(raw).toContain(`ETag: "${image.sha256}"`);
    expect(raw.endsWith('\r\n\r\n')).toBe(true);
  });

  it('answers 304 to If-None-Match with the current ETag', async () => {
    const res = await get(server.port, '/binaries/sensor-1.2.0.bin', {
      headers: { 'If-None-Match': `"${image.sha256}"` },
    });
    expect(res.status).toBe(304);
    expect(res.body.length).toBe(0);
  });

  it('counts the bytes served per file', async () => {
    const before = stats.bytesByFile().get('sensor-1.2.0.bin') ?? 0;
    await get(server.port, '/binaries/sensor-1.2.0.bin');
    expect((stats.bytesByFile().get('sensor-1.2.0.bin') ?? 0) - before).toBe(image.data.length);
  });
});

// The same answers whether the image is served from the cache or, too large for it, from disk.
describe.each([
  ['cached', () => server.port],
  ['read from disk', () => diskServer.port],
] as const)('Range requests (image %s)', (_source, port) => {
  it('resumes a download: a prefix, then the rest with Range, byte-exact', async () => {
    const first = await get(port(), '/binaries/sensor-1.2.0.bin', {
      headers: { Range: 'bytes=0-40000' },
    });
    expect(first.status).toBe(206);
    expect(first.headers['content-range']).toBe(`bytes 0-40000/${image.data.length}`);
    expect(first.body.length).toBe(40_001);
    const rest = await get(port(), '/binaries/sensor-1.2.0.bin', {
      headers: { Range: `bytes=${first.body.length}-`, 'If-Range': first.headers.etag as string },
    });
    expect(rest.status).toBe(206);
    expect(rest.headers['content-length']).toBe(String(image.data.length - 40_001));
    expect(Buffer.concat([first.body, rest.body]).equals(image.data)).toBe(true);
  });

  it('serves a suffix range', async () => {
    const res = await get(port(), '/binaries/sensor-1.2.0.bin', { headers: { Range: 'bytes=-100' } });
    expect(res.status).toBe(206);
    expect(res.body.equals(image.data.subarray(image.data.length - 100))).toBe(true);
  });

  it('answers 416 with the size when the range starts beyond the end', async () => {
    const res = await get(port(), '/binaries/sensor-1.2.0.bin', {
      headers: { Range: `bytes=${image.data.length}-` },
    });
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${image.data.length}`);
  });

  it('sends the whole file when If-Range names another version', async () => {
    const res = await get(port(), '/binaries/sensor-1.2.0.bin', {
      headers: { Range: 'bytes=10-20', 'If-Range': '"0000"' },
    });
    expect(res.status).toBe(200);
    expect(res.body.equals(image.data)).toBe(true);
  });

  it('sends the whole file for a multi-range request', async () => {
    const res = await get(port(), '/binaries/sensor-1.2.0.bin', { headers: { Range: 'bytes=0-1,5-6' } });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(image.data.length);
  });
});

describe('refusals', () => {
  it.each(['/binaries/undeclared.bin', '/binaries/', '/binaries', '/binaries/missing.bin'])(
    'answers 404 for %s (not in the catalog, no listing)',
    async (path) => {
      const res = await get(server.port, path);
      expect(res.status).toBe(404);
      expect(res.body.toString()).not.toContain('sensor-1.2.0.bin');
    },
  );

  it('answers 404 for paths outside /binaries on the standalone server', async () => {
    expect((await get(server.port, '/')).status).toBe(404);
  });

  it('answers 405 to methods other than GET and HEAD', async () => {
    const res = await get(server.port, '/binaries/sensor-1.2.0.bin', { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it.each([
    '/binaries/../secret.txt',
    '/binaries/..%2fsecret.txt',
    '/binaries/..%2f..%2fetc%2fpasswd',
    '/binaries/%2e%2e/secret.txt',
    '/binaries/%2e%2e%2fsecret.txt',
    '/binaries/%2E%2E%5Csecret.txt',
    '/binaries/..\\secret.txt',
    '/binaries//etc/passwd',
    '/binaries/%2fetc%2fpasswd',
    `/binaries/${encodeURIComponent('/etc/passwd')}`,
    '/binaries/sensor-1.2.0.bin%00.txt',
    '/binaries/%252e%252e%252fsecret.txt',
    '/binaries/./sensor-1.2.0.bin',
    '/binaries/%',
  ])('refuses the traversal attempt %s sent raw', async (target) => {
    const raw = await rawGet(server.port, target);
    expect([400, 404]).toContain(statusOf(raw));
    expect(raw).not.toContain(fw.secret);
    expect(raw).not.toContain('root:');
  });
});

describe('symlinks', () => {
  it('never serves a declared file that is a symlink leading out of the firmware directory', async () => {
    const { symlink } = await import('node:fs/promises');
    await symlink(join(fw.root, 'secret.txt'), join(fw.dir, 'escape.bin'));
    const { catalog, problems } = await buildFirmwareCatalog(fw.dir, [
      { file: 'escape.bin', sha256: '00'.repeat(32) },
    ]);
    expect(problems.map((p) => p.kind)).toEqual(['outside-dir']);
    expect(catalog.lookup('escape.bin')).toBeUndefined();
  });

  it('refuses a served file that was swapped for a symlink leading out after its check', async () => {
    const { rename, symlink } = await import('node:fs/promises');
    const swapped = await writeImage(fw.dir, 'swapped.bin', 64);
    const { catalog } = await buildFirmwareCatalog(fw.dir, [{ file: 'swapped.bin', sha256: swapped.sha256 }]);
    const other = await startFirmwareHttpServer({ port: 0, host: '127.0.0.1', catalog });
    try {
      expect((await get(other.port, '/binaries/swapped.bin')).status).toBe(200);
      await symlink(join(fw.root, 'secret.txt'), join(fw.dir, 'swap-link'));
      await rename(join(fw.dir, 'swap-link'), join(fw.dir, 'swapped.bin'));
      const res = await get(other.port, '/binaries/swapped.bin');
      expect(res.status).toBe(404);
      expect(res.body.toString()).not.toContain(fw.secret);
    } finally {
      await other.close();
    }
  });

  it('never serves bytes that differ from the declared sha256, even when size and mtime still match', async () => {
    const forged = await writeImage(fw.dir, 'forged.bin', 64);
    await utimes(join(fw.dir, 'forged.bin'), 1_700_000_000, 1_700_000_000);
    const { catalog } = await buildFirmwareCatalog(fw.dir, [{ file: 'forged.bin', sha256: forged.sha256 }]);
    const other = await startFirmwareHttpServer({ port: 0, host: '127.0.0.1', catalog });
    try {
      await writeFile(join(fw.dir, 'forged.bin'), Buffer.alloc(64, 0x5a));
      await utimes(join(fw.dir, 'forged.bin'), 1_700_000_000, 1_700_000_000);
      const res = await get(other.port, '/binaries/forged.bin');
      expect(res.status).toBe(404);
      expect(res.body.includes(Buffer.alloc(64, 0x5a))).toBe(false);
    } finally {
      await other.close();
    }
  });

  it('refuses a served file whose content changed after its check', async () => {
    const changed = await writeImage(fw.dir, 'changed.bin', 64);
    const { catalog } = await buildFirmwareCatalog(fw.dir, [{ file: 'changed.bin', sha256: changed.sha256 }]);
    const other = await startFirmwareHttpServer({ port: 0, host: '127.0.0.1', catalog });
    try {
      await writeFile(join(fw.dir, 'changed.bin'), Buffer.alloc(65, 1));
      expect((await get(other.port, '/binaries/changed.bin')).status).toBe(404);
    } finally {
      await other.close();
    }
  });
});

interface PausedDownload {
  readonly req: ClientRequest;
  readonly res: IncomingMessage;
}

/** Starts a download and stops reading once the headers are in, so the transfer stays in progress. */
function startPausedDownload(port: number, path: string): Promise<PausedDownload> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.pause();
      resolve({ req, res });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the first event of `stats` from now on that `match` accepts. */
function nextEvent<K extends DownloadEvent['kind']>(
  stats: DownloadStats,
  kind: K,
  match: (event: Extract<DownloadEvent, { kind: K }>) => boolean = () => true,
): Promise<Extract<DownloadEvent, { kind: K }>> {
  return new Promise((resolve) => {
    const stop = stats.subscribe((event) => {
      if (event.kind !== kind) return;
      const wanted = event as Extract<DownloadEvent, { kind: K }>;
      if (!match(wanted)) return;
      stop();
      resolve(wanted);
    });
  });
}

/** The events of `stats` from now on, one line each, for asserting their order. */
function eventLog(stats: DownloadStats): string[] {
  const log: string[] = [];
  stats.subscribe((event) => {
    if (event.kind === 'started') log.push(`started ${event.download.id}`);
    else if (event.kind === 'finished')
      log.push(`finished ${event.download.id} ${event.complete ? 'complete' : 'cut off'}`);
    else log.push(`${event.kind} ${event.wait.id}`);
  });
  return log;
}

describe('per-client bounds', () => {
  it('queues downloads beyond the concurrent ones a client may run, visibly, and serves each in turn', async () => {
    const big = await writeImage(fw.dir, 'queued.bin', 48 * 1024 * 1024);
    const { catalog } = await buildFirmwareCatalog(fw.dir, [{ file: 'queued.bin', sha256: big.sha256 }]);
    const ownStats = createDownloadStats();
    const idleTimeoutMs = 300;
    const limited = await startFirmwareHttpServer({
      port: 0,
      host: '127.0.0.1',
      catalog,
      stats: ownStats,
      maxDownloadsPerClient: 1,
      downloadQueuePerClient: 2,
      idleTimeoutMs,
    });
    const log = eventLog(ownStats);
    try {
      // The readers below pause after the headers: their downloads stall, so the idle timeout
      // cuts each off in turn, which is what lets the next queued request in.
      const firstStarted = nextEvent(ownStats, 'started');
      const first = await startPausedDownload(limited.port, '/binaries/queued.bin');
      expect(first.res.statusCode).toBe(200);
      const firstId = (await firstStarted).download.id;
      // Two more wait, in this order: no answer yet, both listed as waiting for this address.
      const secondQueued = nextEvent(ownStats, 'queued');
      const second = startPausedDownload(limited.port, '/binaries/queued.bin');
      const secondWait = (await secondQueued).wait;
      const thirdQueued = nextEvent(ownStats, 'queued');
      const third = get(limited.port, '/binaries/queued.bin', { method: 'HEAD' });
      const thirdWait = (await thirdQueued).wait;
      expect(ownStats.waiting()).toEqual([secondWait, thirdWait]);
      expect(secondWait).toMatchObject({ file: 'queued.bin', client: '127.0.0.1', protocol: 'http' });
      // The queue is full: a fourth is refused, the abusive-client case.
      const refused = await get(limited.port, '/binaries/queued.bin', { method: 'HEAD' });
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBeDefined();

      const secondStarted = nextEvent(ownStats, 'started').then(({ download }) => ({
        id: download.id,
        waiting: ownStats.waiting(),
      }));
      const admitted = await second;
      expect(admitted.res.statusCode).toBe(200);
      const { id: secondId, waiting } = await secondStarted;
      // When the second got its slot the third was still waiting for it.
      expect(waiting).toEqual([thirdWait]);
      expect((await third).status).toBe(200);
      expect(ownStats.waiting()).toEqual([]);
      expect(ownStats.waitTotals().count).toBe(2);
      // Waiting is not idleness: the third waited through the whole idle timeout that cut off the
      // stalled second download, and was still served.
      const at = (line: string): number => {
        const index = log.indexOf(line);
        expect(index, `"${line}" in ${log.join(', ')}`).toBeGreaterThanOrEqual(0);
        return index;
      };
      expect(at(`finished ${firstId} cut off`)).toBeLessThan(at(`started ${secondId}`));
      expect(at(`dequeued ${secondWait.id}`)).toBeLessThan(at(`started ${secondId}`));
      expect(at(`started ${secondId}`)).toBeLessThan(at(`finished ${secondId} cut off`));
      expect(at(`finished ${secondId} cut off`)).toBeLessThan(at(`dequeued ${thirdWait.id}`));
      admitted.req.destroy();
      first.req.destroy();
    } finally {
      await limited.close();
    }
  });

  it('drops a queued download whose client reset its connection, and gives its turn to the next', async () => {
    const big = await writeImage(fw.dir, 'left.bin', 48 * 1024 * 1024);
    const { catalog } = await buildFirmwareCatalog(fw.dir, [{ file: 'left.bin', sha256: big.sha256 }]);
    const ownStats = createDownloadStats();
    const limited = await startFirmwareHttpServer({
      port: 0,
      host: '127.0.0.1',
      catalog,
      stats: ownStats,
      maxDownloadsPerClient: 1,
    });
    try {
      const first = await startPausedDownload(limited.port, '/binaries/left.bin');
      const queued = nextEvent(ownStats, 'queued');
      const leaving = httpRequest({
        host: '127.0.0.1',
        port: limited.port,
        path: '/binaries/left.bin',
        agent: false,
      });
      leaving.on('error', () => {});
      leaving.end();
      const { wait } = await queued;
      const left = nextEvent(ownStats, 'dequeued', (event) => event.wait.id === wait.id);
      // A reset, not a FIN: the server allows half-open sockets (small stacks half-close after the
      // request), so only a reset or a failed write tells that a client is gone.
      leaving.socket?.resetAndDestroy();
      await left;
      expect(ownStats.waiting()).toEqual([]);
      const nextQueued = nextEvent(ownStats, 'queued');
      const next = get(limited.port, '/binaries/left.bin', { method: 'HEAD' });
      await nextQueued;
      first.req.destroy();
      expect((await next).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('answers 429 beyond the concurrent downloads a client may run when it may queue none, and serves again once one ends', async () => {
    const big = await writeImage(fw.dir, 'big.bin', 48 * 1024 * 1024);
    const { catalog } = await buildFirmwareCatalog(fw.dir, [{ file: 'big.bin', sha256: big.sha256 }]);
    const ownStats = createDownloadStats();
    const limited = await startFirmwareHttpServer({
      port: 0,
      host: '127.0.0.1',
      catalog,
      stats: ownStats,
      maxDownloadsPerClient: 2,
      downloadQueuePerClient: 0,
    });
    try {
      const a = await startPausedDownload(limited.port, '/binaries/big.bin');
      const b = await startPausedDownload(limited.port, '/binaries/big.bin');
      expect(a.res.statusCode).toBe(200);
      expect(b.res.statusCode).toBe(200);
      const progress = ownStats.inProgress();
      expect(progress).toHaveLength(2);
      expect(progress[0]).toMatchObject({ file: 'big.bin', client: '127.0.0.1', size: big.data.length });

      const refused = await get(limited.port, '/binaries/big.bin', { method: 'HEAD' });
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBeDefined();

      const ended = new Promise<DownloadEvent>((resolve) => {
        const stop = ownStats.subscribe((event) => {
          if (event.kind === 'finished') {
            stop();
            resolve(event);
          }
        });
      });
      a.req.destroy();
      const event = await ended;
      expect(event.kind === 'finished' && event.complete).toBe(false);
      const again = await get(limited.port, '/binaries/big.bin', { method: 'HEAD' });
      expect(again.status).toBe(200);
      b.req.destroy();
    } finally {
      await limited.close();
    }
  });

  it('answers 503 to connections beyond the bound per client address when none are free to lend', async () => {
    const limited = await startFirmwareHttpServer({
      port: 0,
      host: '127.0.0.1',
      catalog: { lookup: () => undefined },
      maxConnectionsPerClient: 2,
      maxConnections: 10,
      reservedConnections: 10,
    });
    const sockets = [
      connect({ host: '127.0.0.1', port: limited.port }),
      connect({ host: '127.0.0.1', port: limited.port }),
    ];
    try {
      await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))));
      const raw = await rawGet(limited.port, '/binaries/x.bin');
      expect(statusOf(raw)).toBe(503);
    } finally {
      for (const socket of sockets) socket.destroy();
      await limited.close();
    }
  });

  it('closes a connection that never finishes sending its headers', async () => {
    const slow = await startFirmwareHttpServer({
      port: 0,
      host: '127.0.0.1',
      catalog: { lookup: () => undefined },
      headersTimeoutMs: 200,
      requestTimeoutMs: 200,
    });
    try {
      const raw = await rawRequest(slow.port, 'GET /binaries/x.bin HTTP/1.1\r\nHost: x\r\n');
      expect(statusOf(raw)).toBe(408);
    } finally {
      await slow.close();
    }
  });
});

describe('mounting on a shared server', () => {
  it('takes /binaries/ requests and leaves every other path to the host server', async () => {
    const { createServer } = await import('node:http');
    const { createFirmwareHttpHandler } = await import('../../controller/firmware/http/handler.js');
    const { catalog } = await buildFirmwareCatalog(fw.dir, [
      { file: 'sensor-1.2.0.bin', sha256: image.sha256 },
    ]);
    const firmware = createFirmwareHttpHandler({ catalog });
    const shared = createServer((req, res) => {
      if (firmware(req, res)) return;
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('api');
    });
    await new Promise<void>((resolve) => shared.listen(0, '127.0.0.1', resolve));
    const sharedPort = (shared.address() as { port: number }).port;
    try {
      expect((await get(sharedPort, '/healthz')).body.toString()).toBe('api');
      expect((await get(sharedPort, '/binaries-not')).body.toString()).toBe('api');
      const file = await get(sharedPort, '/binaries/sensor-1.2.0.bin');
      expect(file.body.equals(image.data)).toBe(true);
      expect((await get(sharedPort, '/binaries/other.bin')).status).toBe(404);
    } finally {
      await new Promise((resolve) => shared.close(resolve));
    }
  });
});

describe('downloads of an image served from memory', () => {
  it('end complete with every byte counted, or cut off when the client goes first', async () => {
    // Below the cache's 32 MiB per image, so served from memory; large enough that a paused
    // client stops it well before the end.
    const big = await writeImage(fw.dir, 'cached-big.bin', 24 * 1024 * 1024);
    const { catalog } = await buildFirmwareCatalog(fw.dir, [{ file: 'cached-big.bin', sha256: big.sha256 }]);
    const ownStats = createDownloadStats();
    const cached = await startFirmwareHttpServer({ port: 0, host: '127.0.0.1', catalog, stats: ownStats });
    try {
      const whole = nextEvent(ownStats, 'finished');
      const res = await get(cached.port, '/binaries/cached-big.bin');
      expect(res.body.equals(big.data)).toBe(true);
      expect(await whole).toMatchObject({ complete: true, download: { bytesSent: big.data.length } });

      const cut = nextEvent(ownStats, 'finished');
      const paused = await startPausedDownload(cached.port, '/binaries/cached-big.bin');
      paused.req.destroy();
      const event = await cut;
      expect(event.complete).toBe(false);
      expect(event.download.bytesSent).toBeLessThan(big.data.length);
    } finally {
      await cached.close();
    }
  });
});
