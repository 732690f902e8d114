/**
 * Bench child process (run with --expose-gc): the controller's registration path alone —
 * Lwm2mServer + device sync on an in-memory PGlite — so heap and RSS per registered device can be
 * read after GC without the bench's own allocations.
 */
import { writeHeapSnapshot } from 'node:v8';
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
  /**
   * Takes the baseline (after GC) before devices register. RSS keeps falling for several seconds
   * after start-up (pages given back): the baseline waits until it held still for `stillSeconds`
   * (at most 30 s); 0 takes it at once.
   */
  async baseline(args: { stillSeconds: number }) {
    let reference = afterGc().rss;
    let stillSeconds = 0;
    for (let waited = 0; waited < 30 && stillSeconds < args.stillSeconds; waited++) {
      await new Promise((r) => setTimeout(r, 1000));
      const rss = afterGc().rss;
      if (Math.abs(rss - reference) > 1024 * 1024) {
        reference = rss;
        stillSeconds = 0;
      } else stillSeconds++;
    }
    baseline = afterGc();
    return baseline;
  },
  /** Devices interrogated so far. */
  progress: () => interrogated,
  /**
   * Resolves when `count` devices are interrogated, with bytes per registered device. A device whose
   * reads timed out (a loaded machine) is tried again only at its next Update: once the count stops
   * growing for `stallMs`, the measure goes on with the devices interrogated so far.
   */
  async measure(args: { count: number; timeoutMs: number; settleMs: number; stallMs?: number }) {
    const deadline = Date.now() + args.timeoutMs;
    const stallMs = args.stallMs ?? 30_000;
    let last = interrogated;
    let lastChange = Date.now();
    while (interrogated < args.count) {
      const now = Date.now();
      if (interrogated !== last) {
        last = interrogated;
        lastChange = now;
      } else if (now - lastChange > stallMs && interrogated > 0) break;
      if (now > deadline) throw new Error(`only ${interrogated}/${args.count} devices interrogated`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await sync.flush();
    // Answers are kept an exchange lifetime for duplicate requests: wait it out for the steady state.
    if (args.settleMs > 0) await new Promise((r) => setTimeout(r, args.settleMs));
    let registrations = 0;
    for (const _ of server.registrations()) registrations++;
    const now = afterGc();
    return {
      registrations,
      interrogated,
      heapPerDevice: (now.heap - baseline.heap) / registrations,
      rssPerDevice: (now.rss - baseline.rss) / registrations,
      externalPerDevice: (now.external - baseline.external) / registrations,
    };
  },
  /** Writes a heap snapshot (after GC) to `path`, to see what a device costs. */
  heapSnapshot(path: string) {
    afterGc();
    return writeHeapSnapshot(path);
  },
  async stop() {
    await sync.stop();
    await server.stop();
    await store.close();
  },
};

export type MemoryControllerHandlers = typeof handlers;

serveRpc(handlers);
