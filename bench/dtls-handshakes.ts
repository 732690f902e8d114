/**
 * DTLS handshakes: full PSK handshakes (node-dtls-client, each followed by one datagram and its
 * echo) against the endpoint in a child process; prints handshakes per second (wall, with the
 * clients on the same machine), the server's CPU per handshake, and heap per idle session.
 *
 *   node --expose-gc --import tsx bench/dtls-handshakes.ts [--count 2000] [--concurrency 16]
 *        [--cipher TLS_PSK_WITH_AES_128_CCM_8] [--no-resumption]
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { dtls } from 'node-dtls-client';
import type { DtlsServerHandlers } from './children/dtls-server.js';
import { spawnChild } from './rpc.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    cipher: { type: 'string', default: 'TLS_PSK_WITH_AES_128_CCM_8' },
    'no-resumption': { type: 'boolean', default: false },
  },
});
const COUNT = Number(values.count);
const CONCURRENCY = Number(values.concurrency);
const KEY = 'bench-key-000001';

if (values['no-resumption']) process.env.DTLS_BENCH_NO_RESUMPTION = '1';
process.env.DTLS_BENCH_KEY = KEY;
const server = spawnChild<DtlsServerHandlers>('dtls-server', { gc: true });
const port = await server.call('port', undefined as never);
await server.call('start', undefined as never);

const clients: dtls.Socket[] = [];
let started = 0;
async function worker(): Promise<void> {
  while (started < COUNT) {
    started++;
    const socket = dtls.createSocket({
      type: 'udp4',
      address: '127.0.0.1',
      port,
      psk: { [`device-${started}`]: KEY },
      timeout: 30_000,
      ciphers: [values.cipher as NonNullable<dtls.Options['ciphers']>[number]],
    });
    const failed = once(socket, 'error').then(([err]) => {
      throw err;
    });
    await Promise.race([once(socket, 'connected'), failed]);
    const echo = once(socket, 'message');
    socket.send(Buffer.from('register'));
    await Promise.race([echo, failed]);
    clients.push(socket);
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
const wallMs = performance.now() - t0;
const result = await server.call('measure', undefined as never);
console.log(
  JSON.stringify(
    {
      handshakes: COUNT,
      concurrency: CONCURRENCY,
      cipher: values.cipher,
      perSecondWall: Math.round((COUNT / wallMs) * 1000),
      serverCpuMsPerHandshake: Number((result.cpuMs / COUNT).toFixed(3)),
      heapBytesPerIdleSession: Math.round(result.heapPerSession),
      arrayBufferBytesPerIdleSession: Math.round(result.externalPerSession),
      server: result.stats,
    },
    null,
    2,
  ),
);
for (const c of clients) c.close();
await server.call('stop', undefined as never);
await server.stop();
