/**
 * Bench child process (run with --expose-gc): a DTLS endpoint alone, echoing every datagram, so
 * the CPU per handshake and heap per idle session can be read without the clients' own costs.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { DtlsEndpoint } from '../../controller/dtls/index.js';
import { serveRpc } from '../rpc.js';

function afterGc(): { heap: number; external: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.arrayBuffers };
}

const socket = createSocket('udp4');
socket.bind(0, '127.0.0.1');
await once(socket, 'listening');
try {
  socket.setRecvBufferSize(4 * 1024 * 1024);
} catch {
  // the kernel's cap; fine for a bench
}
const key = Buffer.from(process.env.DTLS_BENCH_KEY ?? 'bench-key-000001', 'ascii');
const resumable = process.env.DTLS_BENCH_NO_RESUMPTION ? 0 : undefined;
const endpoint = new DtlsEndpoint({
  socket,
  lookupPsk: async () => key,
  limits: resumable === undefined ? {} : { resumableSessions: resumable },
});
endpoint.on('message', (data, peer) => endpoint.send(data, peer.port, peer.address));
let baseline = afterGc();
let cpu = process.cpuUsage();

const handlers = {
  port: () => endpoint.address().port,
  start() {
    baseline = afterGc();
    cpu = process.cpuUsage();
    return baseline;
  },
  measure() {
    const used = process.cpuUsage(cpu);
    const now = afterGc();
    const { sessions } = endpoint.stats();
    return {
      stats: endpoint.stats(),
      cpuMs: (used.user + used.system) / 1000,
      heapPerSession: (now.heap - baseline.heap) / sessions,
      externalPerSession: (now.external - baseline.external) / sessions,
    };
  },
  async stop() {
    await endpoint.close({ notify: false });
  },
};

export type DtlsServerHandlers = typeof handlers;

serveRpc(handlers);
