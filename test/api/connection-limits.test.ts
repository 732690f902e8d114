import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningHttpServer, startHttpServer } from '../../controller/api/http-server.js';
import type { ConnectionRefusal, ServerLimits } from '../../controller/firmware/http/harden-server.js';

/**
 * A raw keep-alive connection from `localAddress` (any 127.x.y.z is loopback on Linux) that sends
 * one request; resolves with the status of the answer, 0 when the server closed or reset without one.
 */
function holdConnection(port: number, localAddress: string, sockets: Socket[]): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    sockets.push(socket);
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (status && answer.includes('\r\n\r\n')) resolve(Number(status[1]));
    });
    socket.on('error', () => resolve(0));
    socket.on('close', () => resolve(0));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

describe('connection bounds on the HTTP port', () => {
  let server: RunningHttpServer | undefined;
  const sockets: Socket[] = [];
  const refusals: ConnectionRefusal[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    refusals.length = 0;
    await server?.close();
    server = undefined;
  });

  async function start(limits: ServerLimits): Promise<number> {
    server = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      app: (_req, res) => res.end('ok\n'),
      ...limits,
      onConnectionRefused: (reason) => refusals.push(reason),
    });
    return server.port;
  }

  it('answers 503 with Retry-After, never a reset, once the port is full', async () => {
    const port = await start({ maxConnections: 6, maxConnectionsPerClient: 2, reservedConnections: 0 });
    for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      expect(await holdConnection(port, address, sockets)).toBe(200);
      expect(await holdConnection(port, address, sockets)).toBe(200);
    }
    expect(await holdConnection(port, '127.0.0.5', sockets)).toBe(503);
    expect(refusals).toEqual(['server-full']);
  });

  it('lends free connections to one busy address (a fleet behind NAT) and keeps a reserve for the next', async () => {
    const port = await start({ maxConnections: 20, maxConnectionsPerClient: 2, reservedConnections: 5 });
    const fleet: number[] = [];
    for (let i = 0; i < 20; i++) fleet.push(await holdConnection(port, '127.0.0.2', sockets));
    // Its own 2, then borrowed ones while more than 5 stay free: 15 in all.
    expect(fleet.filter((status) => status === 200)).toHaveLength(15);
    expect(fleet.filter((status) => status === 503)).toHaveLength(5);
    expect(new Set(refusals)).toEqual(new Set(['address-full']));

    // Addresses that come later still get their own share from the reserve.
    for (const address of ['127.0.0.3', '127.0.0.4']) {
      expect(await holdConnection(port, address, sockets)).toBe(200);
      expect(await holdConnection(port, address, sockets)).toBe(200);
    }
    // Nor can a second busy address borrow from the reserve.
    expect(await holdConnection(port, '127.0.0.3', sockets)).toBe(503);
    expect(await holdConnection(port, '127.0.0.5', sockets)).toBe(200);
  });
});
