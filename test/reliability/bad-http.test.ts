import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import { firmwareManifest, Scene } from '../helpers/rollout-fixture.js';
import { seededRandom } from './harness/seeded-random.js';

const BIG_FILE = 'big-1.0.0.bin';
const BIG_SIZE = 16 * 1024 * 1024;

/**
 * Sends raw bytes on a fresh connection; resolves with everything the server sent until it closed.
 * Well-formed requests carry `Connection: close`; `halfClose` also shuts the sending side at once.
 */
function raw(port: number, bytes: string | Buffer, options: { halfClose?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset after the answer is a refusal too.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') resolve(answer);
      else reject(error);
    });
    socket.on('close', () => resolve(answer));
    const data =
      typeof bytes === 'string'
        ? bytes.replace('\r\nHost: x\r\n', '\r\nHost: x\r\nConnection: close\r\n')
        : bytes;
    socket.write(data, () => {
      if (options.halfClose) socket.end();
    });
  });
}

function statusOf(answer: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(answer);
  return match ? Number(match[1]) : 0;
}

/** Downloads `path` slowly (pausing between chunks) and returns its sha256 and size. */
function slowDownload(port: number, path: string): Promise<{ status: number; sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      let chunks = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
        if (++chunks % 16 === 0) {
          res.pause();
          setTimeout(() => res.resume(), 5);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, sha256: hash.digest('hex'), size }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe.each(testBackends)('hostile HTTP against the firmware and API port on $name', (backend) => {
  let scene: Scene | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await scene?.close();
    scene = undefined;
  });

  it('refuses every hostile request while a concurrent download completes intact', async () => {
    scene = await Scene.create(backend);
    const image = seededRandom(21).bytes(BIG_SIZE);
    const sha256 = createHash('sha256').update(image).digest('hex');
    await writeFile(join(scene.ws.firmwareDir, BIG_FILE), image);
    await scene.ws.writeManifest(
      'fw.yaml',
      firmwareManifest({ version: '1.0.0', file: BIG_FILE, sha256, model: 'BIG' }),
    );
    const controller = await scene.startController();
    const port = controller.httpPort;

    // Slow clients first: half-sent request heads, held open for the whole test.
    for (let i = 0; i < 50; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(`GET /binaries/${BIG_FILE} HTTP/1.1\r\nHost: x\r\nX-Slow: `);
      sockets.push(socket);
    }
    // Stalled readers: ask for the image and never read it.
    for (let i = 0; i < 10; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.pause();
      socket.write(`GET /binaries/${BIG_FILE} HTTP/1.1\r\nHost: x\r\n\r\n`);
      sockets.push(socket);
    }

    const download = slowDownload(port, `/binaries/${BIG_FILE}`);
    download.catch(() => {}); // awaited below; a failure before that must not go unhandled
    const hostile: [string, string | Buffer, (status: number, answer: string) => void][] = [
      ['dot-dot traversal', 'GET /binaries/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n', notServed],
      [
        'encoded traversal',
        'GET /binaries/%2e%2e%2f%2e%2e%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n',
        notServed,
      ],
      [
        'double-encoded traversal',
        'GET /binaries/%252e%252e%252fetc%252fpasswd HTTP/1.1\r\nHost: x\r\n\r\n',
        notServed,
      ],
      ['backslash traversal', 'GET /binaries/..%5c..%5cetc%5cpasswd HTTP/1.1\r\nHost: x\r\n\r\n', notServed],
      ['NUL in the name', `GET /binaries/${BIG_FILE}%00.txt HTTP/1.1\r\nHost: x\r\n\r\n`, notServed],
      ['absolute path', 'GET /binaries//etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n', notServed],
      ['an undeclared file', 'GET /binaries/fw.yaml HTTP/1.1\r\nHost: x\r\n\r\n', notServed],
      ['a 64 KB header', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(65_536)}\r\n\r\n`, is(431)],
      [
        'ten thousand headers',
        `GET /healthz HTTP/1.1\r\nHost: x\r\n${'X-A: 1\r\n'.repeat(10_000)}\r\n`,
        is(431),
      ],
      ['a garbage request line', 'GARBAGE\r\n\r\n', is(400)],
      ['binary noise', seededRandom(4).bytes(4096), refused],
      ['a 1 MB URL', `GET /api/v1/devices?x=${'a'.repeat(1 << 20)} HTTP/1.1\r\nHost: x\r\n\r\n`, is(431)],
      [
        'an upload to the firmware path',
        `PUT /binaries/${BIG_FILE} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nevil`,
        is(405),
      ],
      [
        'a range beyond the end',
        `GET /binaries/${BIG_FILE} HTTP/1.1\r\nHost: x\r\nRange: bytes=${BIG_SIZE * 2}-\r\n\r\n`,
        is(416),
      ],
      [
        'a thousand ranges',
        `GET /binaries/${BIG_FILE} HTTP/1.1\r\nHost: x\r\nRange: bytes=${Array.from({ length: 1000 }, (_, i) => `${i}-${i}`).join(',')}\r\n\r\n`,
        bounded,
      ],
      [
        'malformed percent-encoding in the API',
        'GET /api/v1/devices/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n',
        is(400),
      ],
      ['a bad page size', 'GET /api/v1/devices?limit=-5 HTTP/1.1\r\nHost: x\r\n\r\n', is(400)],
      ['a write to the API', 'DELETE /api/v1/rollouts/x HTTP/1.1\r\nHost: x\r\n\r\n', is(405)],
      [
        'request smuggling',
        'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        refusedOr(405),
      ],
    ];
    for (const [name, request, check] of hostile) {
      const answer = await raw(port, request);
      try {
        check(statusOf(answer), answer);
      } catch (error) {
        throw new Error(`${name}: ${(error as Error).message}\n${answer.slice(0, 300)}`);
      }
    }

    const result = await download;
    expect(result).toEqual({ status: 200, sha256, size: BIG_SIZE });
    const health = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(health)).toBe(200);
  }, 120_000);

  // Found here: with node:http's default (httpAllowHalfOpen false) a client that half-closes its
  // socket after the request (small embedded HTTP stacks do) never got an answer; hardenServer now
  // allows half-open sockets and the event stream ends a subscription whose client left.
  it('serves the whole image to a client that half-closes right after its request', async () => {
    scene = await Scene.create(backend);
    const fw = await scene.ws.addFirmware('2.0.0');
    await scene.ws.writeManifest('fw.yaml', firmwareManifest(fw));
    const controller = await scene.startController();
    const answer = await raw(controller.httpPort, `GET /binaries/${fw.file} HTTP/1.1\r\nHost: y\r\n\r\n`, {
      halfClose: true,
    });
    expect(statusOf(answer)).toBe(200);
    const body = Buffer.from(answer.slice(answer.indexOf('\r\n\r\n') + 4), 'latin1');
    expect(createHash('sha256').update(body).digest('hex')).toBe(fw.sha256);
    const tooFar = await raw(
      controller.httpPort,
      `GET /binaries/${fw.file} HTTP/1.1\r\nHost: y\r\nRange: bytes=999999-\r\n\r\n`,
      { halfClose: true },
    );
    expect(statusOf(tooFar)).toBe(416);
  });
});

function notServed(status: number, answer: string): void {
  expect([400, 403, 404]).toContain(status);
  expect(answer).not.toMatch(/root:/);
}

function is(want: number): (status: number) => void {
  return (status) => expect(status).toBe(want);
}

/** Refused: an error status, or the connection closed without an answer. */
function refused(status: number): void {
  expect(status === 0 || status >= 400).toBe(true);
}

function refusedOr(want: number): (status: number) => void {
  return (status) => expect(status === 0 || status === 400 || status === want).toBe(true);
}

/** Many ranges must not turn into a huge multipart answer: one range, the whole file, or a refusal. */
function bounded(status: number, answer: string): void {
  expect([200, 206, 400, 416]).toContain(status);
  expect(answer).not.toMatch(/multipart\/byteranges/);
}
