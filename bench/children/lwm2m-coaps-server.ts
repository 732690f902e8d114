/**
 * Bench child process: otactl's Lwm2mServer with plain CoAP and coaps (DTLS PSK) on port 0 each,
 * with credentials for `count` bench endpoints, so registrations over both are measured against
 * the real server with the clients' costs in another process.
 */
import { PskKey, StaticCredentialDirectory } from '../../controller/credentials/index.js';
import { Lwm2mServer } from '../../controller/lwm2m/lwm2m-server.js';
import { benchEndpoint, benchKey } from '../dtls-bench-keys.js';
import { serveRpc } from '../rpc.js';

const count = Number(process.env.DTLS_BENCH_DEVICES ?? '1000');
const credentials = Array.from({ length: count }, (_, i) => {
  const endpoint = benchEndpoint('dtls', i + 1);
  return { endpoint, identity: endpoint, key: new PskKey(benchKey(endpoint)) };
});
const server = await Lwm2mServer.start({
  port: 0,
  host: '127.0.0.1',
  coaps: { port: 0 },
  credentials: new StaticCredentialDirectory(credentials),
  expirySweepMs: 0,
});
let cpu = process.cpuUsage();

const handlers = {
  ports: () => ({ coap: server.address('none').port, coaps: server.address('psk').port }),
  startPhase() {
    cpu = process.cpuUsage();
  },
  endPhase() {
    const used = process.cpuUsage(cpu);
    return { cpuMs: (used.user + used.system) / 1000, registrations: [...server.registrations()].length };
  },
  async stop() {
    await server.stop();
  },
};

export type Lwm2mCoapsServerHandlers = typeof handlers;

serveRpc(handlers);
