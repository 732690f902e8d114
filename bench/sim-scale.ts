/**
 * Scale check of the device simulator: N devices (default 10,000) in this process register with a
 * minimal node-coap LwM2M server running in a child process; prints registration time and memory
 * per simulated device.
 *
 *   node --expose-gc --import tsx bench/sim-scale.ts [--count 10000] [--stagger-ms 0] [--lifetime 60]
 *
 * With --lifetime L the run also waits for every device to send its first Update (at 0.8 L).
 */
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { Agent, createServer, type IncomingMessage, type OutgoingMessage, updateTiming } from 'coap';
import { startFleet } from '../controller/sim/index.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    'stagger-ms': { type: 'string', default: '0' },
    lifetime: { type: 'string' },
    'server-only': { type: 'boolean', default: false },
  },
});

/** Child process: Register/Update/De-register only, answers counted. */
async function serve(): Promise<void> {
  updateTiming({ maxLatency: 1 });
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  socket.setRecvBufferSize(4 * 1024 * 1024);
  const server = createServer({ cacheSize: 1000 });
  new Agent({ socket });
  const counts = { register: 0, update: 0, deregister: 0 };
  let id = 0;
  server.on('request', (req: IncomingMessage, res: OutgoingMessage) => {
    try {
      if (req.method === 'POST' && req.url.startsWith('/rd?')) {
        counts.register++;
        res.setOption('Location-Path', [Buffer.from('rd'), Buffer.from(String(++id))]);
        res.code = '2.01';
      } else if (req.method === 'POST') {
        counts.update++;
        res.code = '2.04';
      } else if (req.method === 'DELETE') {
        counts.deregister++;
        res.code = '2.02';
      } else res.code = '4.05';
      res.end();
    } catch {
      // a handler must never throw into node-coap
    }
  });
  server.listen(socket);
  process.send?.({ port: socket.address().port });
  process.on('message', () => process.send?.({ counts }));
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function measure() {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers };
}

async function main(): Promise<void> {
  if (values['server-only']) return serve();
  const count = Number(values.count);
  const lifetime = values.lifetime === undefined ? 3600 : Number(values.lifetime);
  if ((globalThis as { gc?: () => void }).gc === undefined) {
    console.error('hint: run with node --expose-gc for exact heap figures');
  }
  const child = fork(process.argv[1]!, ['--server-only'], { execArgv: ['--import', 'tsx'] });
  const [{ port }] = (await once(child, 'message')) as [{ port: number }];
  const serverCounts = async () => {
    child.send('counts');
    const [m] = (await once(child, 'message')) as [{ counts: Record<string, number> }];
    return m.counts;
  };

  const before = measure();
  const t0 = performance.now();
  let registered = 0;
  let updated = 0;
  let failures = 0;
  const fleet = await startFleet({
    server: `coap://127.0.0.1:${port}`,
    count,
    prefix: 'bench-',
    version: '1.0.0',
    model: 'BENCH',
    staggerMs: Number(values['stagger-ms']),
    lifetime,
    bindAddress: '127.0.0.1',
  });
  const allRegistered = new Promise<void>((resolve) => {
    fleet.on('registered', () => {
      if (++registered === count) resolve();
    });
  });
  fleet.on('registration-failed', () => failures++);
  await allRegistered;
  const t1 = performance.now();
  const after = measure();
  console.log(`devices:          ${count}`);
  console.log(
    `registered in:    ${((t1 - t0) / 1000).toFixed(2)} s (${Math.round(count / ((t1 - t0) / 1000))}/s), retried Registers: ${failures}`,
  );
  console.log(`rss:              ${mb(before.rss)} -> ${mb(after.rss)}`);
  console.log(`heap used:        ${mb(before.heap)} -> ${mb(after.heap)}`);
  console.log(
    `per device:       rss ${((after.rss - before.rss) / count / 1024).toFixed(2)} KiB, heap ${((after.heap - before.heap) / count / 1024).toFixed(2)} KiB, external ${((after.external - before.external) / count / 1024).toFixed(2)} KiB`,
  );
  if (values.lifetime !== undefined) {
    await new Promise<void>((resolve) => {
      fleet.on('updated', () => {
        if (++updated === count) resolve();
      });
    });
    console.log(`first Update of every device after ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  }
  const t2 = performance.now();
  await fleet.stop();
  console.log(`stopped (de-registered) in ${((performance.now() - t2) / 1000).toFixed(2)} s`);
  console.log('server saw:', await serverCounts());
  child.kill();
}

await main();
