import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../controller/api/http-server.js';
import { buildFirmwareCatalog } from '../../controller/firmware/build-catalog.js';
import { startFirmwareHttpServer } from '../../controller/firmware/http/server.js';
import { type FirmwareDir, get, makeFirmwareDir, writeImage } from './helpers.js';

interface Logged {
  readonly fields: object;
  readonly message: string;
}

/** The node server behind `port`, as node's diagnostics channel names it for a request it starts. */
async function serverBehind(port: number, path: string): Promise<Server> {
  let seen: Server | undefined;
  const onStart = (message: unknown) => {
    seen = (message as { server: Server }).server;
  };
  subscribe('http.server.request.start', onStart);
  try {
    await get(port, path);
  } finally {
    unsubscribe('http.server.request.start', onStart);
  }
  if (seen === undefined) throw new Error('no request reached the server');
  return seen;
}

/** What node emits on a server whose accept() failed for want of file descriptors. */
function acceptError(): NodeJS.ErrnoException {
  return Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });
}

/**
 * Emits a failed accept on the server behind `port`, checks that it was logged, and fetches
 * `path` again: what the server answers after.
 */
async function afterAcceptError(port: number, path: string, logged: readonly Logged[]) {
  const server = await serverBehind(port, path);
  // Without a listener node throws an unhandled 'error' event: in an accept, the process ends.
  expect(() => server.emit('error', acceptError())).not.toThrow();
  expect(logged).toEqual([
    expect.objectContaining({
      fields: expect.objectContaining({ code: 'EMFILE' }),
      message: expect.stringContaining('accept EMFILE'),
    }),
  ]);
  return get(port, path);
}

describe('an error on a listening server (node emits a failed accept on it)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('is logged by the API server, which keeps serving', async () => {
    const logged: Logged[] = [];
    const running = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      app: (_req, res) => res.end('ok'),
      log: { error: (fields, message) => logged.push({ fields, message }) },
    });
    cleanups.push(() => running.close());
    const after = await afterAcceptError(running.port, '/', logged);
    expect(after.status).toBe(200);
    expect(after.body.toString()).toBe('ok');
  });

  it('is logged by the firmware server, which keeps serving', async () => {
    const fw: FirmwareDir = await makeFirmwareDir();
    cleanups.push(() => fw.remove());
    const image = await writeImage(fw.dir, 'sensor-1.0.0.bin', 1_000);
    const { catalog } = await buildFirmwareCatalog(fw.dir, [
      { file: 'sensor-1.0.0.bin', sha256: image.sha256 },
    ]);
    const logged: Logged[] = [];
    const running = await startFirmwareHttpServer({
      port: 0,
      host: '127.0.0.1',
      catalog,
      log: { error: (fields, message) => logged.push({ fields, message }) },
    });
    cleanups.unshift(() => running.close());
    const after = await afterAcceptError(running.port, '/binaries/sensor-1.0.0.bin', logged);
    expect(after.status).toBe(200);
    expect(after.body.equals(image.data)).toBe(true);
  });
});
