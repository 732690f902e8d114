/** Bench child process: a fleet of full simulated devices (controller/sim), with its memory cost. */
import { type Fleet, startFleet } from '../../controller/sim/index.js';
import { serveRpc } from '../rpc.js';

let fleet: Fleet | undefined;
/** Failed downloads by what failed (the device reported Result 4 for each). */
const downloadFailures = new Map<string, number>();

function heapAfterGc(): { heap: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

export interface StartArgs {
  readonly server: string | readonly string[];
  /** With several servers: device i starts on server i mod N (see FleetOptions.spread). */
  readonly spread?: boolean;
  readonly count: number;
  readonly prefix: string;
  readonly version: string;
  readonly model: string;
  /** Local address of the devices' sockets (default 127.0.0.1); one address has ~28k ephemeral ports. */
  readonly bindAddress?: string;
}

export interface StartResult {
  readonly seconds: number;
  /** Bytes per device after GC, the fleet registered. */
  readonly heapPerDevice: number;
  readonly rssPerDevice: number;
}

const handlers = {
  /** Starts the fleet (a burst) and resolves once every device is registered. */
  async start(args: StartArgs): Promise<StartResult> {
    const before = heapAfterGc();
    const t0 = performance.now();
    const registered = new Set<string>();
    const started = await startFleet({
      server: args.server,
      ...(args.spread ? { spread: true } : {}),
      count: args.count,
      prefix: args.prefix,
      version: args.version,
      model: args.model,
      protocols: [2],
      staggerMs: 0,
      lifetime: 3600,
      bindAddress: args.bindAddress ?? '127.0.0.1',
    });
    fleet = started;
    started.on('download-failed', (event) => {
      downloadFailures.set(event.detail, (downloadFailures.get(event.detail) ?? 0) + 1);
    });
    await new Promise<void>((resolve) => {
      if (args.count === 0) resolve();
      started.on('registered', (_event, device) => {
        registered.add(device.endpoint);
        if (registered.size === args.count) resolve();
      });
    });
    const seconds = (performance.now() - t0) / 1000;
    const after = heapAfterGc();
    return {
      seconds,
      heapPerDevice: (after.heap - before.heap) / Math.max(1, args.count),
      rssPerDevice: (after.rss - before.rss) / Math.max(1, args.count),
    };
  },
  summary: () => fleet?.summary(),
  downloadFailures: (): Record<string, number> => Object.fromEntries(downloadFailures),
  /** CPU seconds (user + system) this simulator process used so far. */
  cpuSeconds: (): number => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  },
  async stop(): Promise<void> {
    await fleet?.stop();
    fleet = undefined;
  },
};

export type SimHostHandlers = typeof handlers;

serveRpc(handlers);
