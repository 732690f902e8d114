/**
 * Bench child process (run with --expose-gc): the controller's registration path alone —
 * Lwm2mServer + device sync on an in-memory PGlite — so heap and RSS per registered device can be
 * read after GC without the bench's own allocations.
 */
import { startDeviceSync } from '../../controller/devices/index.js';
import { Lwm2mServer } from '../../controller/lwm2m/index.js';
import { openDatabase } from '../../controller/store/index.js';
import { serveRpc } from '../rpc.js';

function afterGc(): { heap: number; rss: number; external: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss, external: m.external + m.arrayBuffers };
}

const store = await openDatabase({ kind: 'memory' });
const server = await Lwm2mServer.start({ port: 0, host: '127.0.0.1' });
let interrogated = 0;
const sync = startDeviceSync({
  server,
  db: store.db,
  onDeviceChanged: (_endpoint, why) => {
    if (why.kind === 'info') interrogated++;
  },
});
let baseline = afterGc();

const handlers = {
  port: () => server.address().port,
  /** Takes the baseline (after GC) before devices register. */
  baseline: () => {
    baseline = afterGc();
    return baseline;
  },
  /** Resolves when `count` devices are registered and interrogated, with bytes per device. */
  async measure(args: { count: number; timeoutMs: number; settleMs: number }) {
    const deadline = Date.now() + args.timeoutMs;
    while (interrogated < args.count) {
      if (Date.now() > deadline) throw new Error(`only ${interrogated}/${args.count} devices interrogated`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await sync.flush();
    // node-coap keeps answers for an exchange lifetime (dedup): wait it out for the steady state.
    if (args.settleMs > 0) await new Promise((r) => setTimeout(r, args.settleMs));
    let registrations = 0;
    for (const _ of server.registrations()) registrations++;
    const now = afterGc();
    return {
      registrations,
      heapPerDevice: (now.heap - baseline.heap) / registrations,
      rssPerDevice: (now.rss - baseline.rss) / registrations,
      externalPerDevice: (now.external - baseline.external) / registrations,
    };
  },
  async stop() {
    await sync.stop();
    await server.stop();
    await store.close();
  },
};

export type MemoryControllerHandlers = typeof handlers;

serveRpc(handlers);
