import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../controller/api/http-server.js';
import { startFirmwareHttpServer } from '../../controller/firmware/http/server.js';
import { createSwappableCatalog } from '../../controller/firmware/index.js';

const CLIENTS = 1500;

/**
 * Another process opens `CLIENTS` connections 200 ms after it says 'ready' and prints how many the
 * kernel completed within 600 ms more. The kernel completes a handshake only while the listen
 * queue has room, so with the server's event loop busy all along (accepting none) the count is
 * what the queue holds.
 */
const CONNECTOR = `
const net = require('node:net');
const port = Number(process.argv[1]);
let connected = 0;
const sockets = [];
process.stdout.write('ready\\n');
setTimeout(() => {
  for (let i = 0; i < ${CLIENTS}; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => connected++);
    s.on('error', () => {});
    sockets.push(s);
  }
  setTimeout(() => {
    process.stdout.write(connected + '\\n', () => process.exit(0));
  }, 600);
}, 200);
`;

async function handshakesQueuedWhileBusy(port: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', CONNECTOR, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.startsWith('ready\n')) resolve();
    });
  });
  // The server's loop is busy (this process accepts nothing) until the connector has counted.
  const until = performance.now() + 1_200;
  while (performance.now() < until) {}
  await new Promise((resolve) => child.on('exit', resolve));
  return Number(out.split('\n')[1]);
}

async function somaxconn(): Promise<number> {
  return Number((await readFile('/proc/sys/net/core/somaxconn', 'utf8').catch(() => '4096')).trim());
}

describe('listen queue of the HTTP servers', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  // Node's default queue (511) held a third of a 1,500-device burst; the kernel dropped the rest.
  it('holds a burst of connections while the controller is busy (API and firmware port)', async () => {
    const expected = Math.min(CLIENTS, (await somaxconn()) + 1);
    const api = await startHttpServer({ port: 0, host: '127.0.0.1', app: (_req, res) => res.end() });
    close = () => api.close();
    expect(await handshakesQueuedWhileBusy(api.port)).toBeGreaterThanOrEqual(expected);
    await api.close();

    const firmware = await startFirmwareHttpServer({
      port: 0,
      host: '127.0.0.1',
      catalog: createSwappableCatalog(),
    });
    close = () => firmware.close();
    expect(await handshakesQueuedWhileBusy(firmware.port)).toBeGreaterThanOrEqual(expected);
  });
});
