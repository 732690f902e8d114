/**
 * DTLS handshakes: full PSK handshakes (node-dtls-client, each followed by one datagram and its
 * echo) against the endpoint in a child process; prints handshakes per second (wall, with the
 * clients on the same machine), the server's CPU per handshake, and heap per idle session.
 *
 * Then registrations per second against otactl's Lwm2mServer (plain CoAP and coaps in one child
 * process): plain Registers, full handshake + Register, resumed handshake + Register, each device on
 * a socket of its own (our DTLS client), in the same run so the ratios compare like with like.
 *
 *   node --expose-gc --import tsx bench/dtls-handshakes.ts [--count 2000] [--concurrency 16]
 *        [--cipher TLS_PSK_WITH_AES_128_CCM_8] [--no-resumption] [--registrations 2000]
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { dtls } from 'node-dtls-client';
import type { ClientSession } from '../controller/dtls/index.js';
import type { DtlsServerHandlers } from './children/dtls-server.js';
import type { Lwm2mCoapsServerHandlers } from './children/lwm2m-coaps-server.js';
import { benchEndpoint } from './dtls-bench-keys.js';
import { registerOnce } from './registrar.js';
import { spawnChild } from './rpc.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    cipher: { type: 'string', default: 'TLS_PSK_WITH_AES_128_CCM_8' },
    'no-resumption': { type: 'boolean', default: false },
    registrations: { type: 'string', default: '2000' },
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

// Registrations per second against the real LwM2M server: plain, DTLS full, DTLS resumed.
const REGISTRATIONS = Number(values.registrations);
process.env.DTLS_BENCH_DEVICES = String(REGISTRATIONS);
const lwm2m = spawnChild<Lwm2mCoapsServerHandlers>('lwm2m-coaps-server');
const ports = await lwm2m.call('ports', undefined as never);
const sessions: (ClientSession | undefined)[] = [];

async function phase(
  name: string,
  one: (index: number) => Promise<{ ok: boolean }>,
): Promise<{ phase: string; perSecond: number; failed: number; serverCpuMsPerRegistration: number }> {
  await lwm2m.call('startPhase', undefined as never);
  let next = 0;
  let failed = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REGISTRATIONS) {
        const index = ++next;
        if (!(await one(index)).ok) failed++;
      }
    }),
  );
  const ms = performance.now() - t;
  const { cpuMs } = await lwm2m.call('endPhase', undefined as never);
  return {
    phase: name,
    perSecond: Math.round((REGISTRATIONS / ms) * 1000),
    failed,
    serverCpuMsPerRegistration: Number((cpuMs / REGISTRATIONS).toFixed(3)),
  };
}

const plain = await phase('plain CoAP Register', async (i) => {
  const o = await registerOnce({
    port: ports.coap,
    endpoint: benchEndpoint('plain', i),
    dtls: false,
    messageId: i & 0xffff,
  });
  return { ok: o.kind === 'registered' };
});
const full = await phase('DTLS full handshake + Register', async (i) => {
  const o = await registerOnce({
    port: ports.coaps,
    endpoint: benchEndpoint('dtls', i),
    dtls: true,
    messageId: i & 0xffff,
  });
  if (o.kind === 'registered') sessions[i] = o.session;
  return { ok: o.kind === 'registered' && !o.resumed };
});
const resumed = await phase('DTLS resumed handshake + Register', async (i) => {
  const session = sessions[i];
  const o = await registerOnce({
    port: ports.coaps,
    endpoint: benchEndpoint('dtls', i),
    dtls: true,
    messageId: (i + 7) & 0xffff,
    ...(session ? { resume: session } : {}),
  });
  return { ok: o.kind === 'registered' && o.resumed };
});
console.log(
  JSON.stringify(
    {
      server: 'otactl Lwm2mServer (plain CoAP and coaps ports, StaticCredentialDirectory)',
      registrations: REGISTRATIONS,
      concurrency: CONCURRENCY,
      phases: [plain, full, resumed],
      fullVsPlain: Number((full.perSecond / plain.perSecond).toFixed(2)),
      resumedVsPlain: Number((resumed.perSecond / plain.perSecond).toFixed(2)),
      aims: { fullVsPlain: 0.25, resumedVsPlain: 0.5 },
    },
    null,
    2,
  ),
);
await lwm2m.call('stop', undefined as never);
await lwm2m.stop();
