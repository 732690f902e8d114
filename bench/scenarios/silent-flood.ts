import { startDeviceSync } from '../../controller/devices/index.js';
import { Lwm2mServer, type RegistrationChange } from '../../controller/lwm2m/index.js';
import type { LoadClientHandlers } from '../children/load-client.js';
import { waitFor } from '../concurrency.js';
import { pgliteDatabase } from '../databases.js';
import { type Figure, figure, GOALS } from '../figure.js';
import { spawnChild } from '../rpc.js';

export interface SilentFloodSizes {
  /** Endpoints that register and never answer. */
  readonly silent: number;
  /** Devices that answer, half registering amid the flood and half after it. */
  readonly answering: number;
}

const SILENT_PREFIX = 'silent-';
const DURING_PREFIX = 'answers-during-';
const AFTER_PREFIX = 'answers-after-';

/**
 * Issue 23 item 7: `silent` endpoints register over raw UDP and never answer the controller's
 * reads, while devices that answer register amid the flood and after it. Measured: how long after
 * its Register each answering device's first read (object 3) was stored. The controller is the
 * registration path (Lwm2mServer + device sync on PGlite, Registers answered once committed); the
 * flood and the devices are lightweight UDP clients in two child processes.
 */
export async function measureSilentFlood(
  sizes: SilentFloodSizes,
  log: (line: string) => void,
  timeoutMs: number,
): Promise<Figure[]> {
  const store = await pgliteDatabase.open();
  const registeredAt = new Map<string, number>();
  const readAt = new Map<string, number>();
  let silentRegistered = 0;
  const answering = (endpoint: string) => !endpoint.startsWith(SILENT_PREFIX);
  let persist: ((change: RegistrationChange) => Promise<void>) | undefined;
  const server = await Lwm2mServer.start({
    port: 0,
    host: '127.0.0.1',
    beforeAnswer: (change) => persist?.(change) ?? Promise.resolve(),
  });
  server.on('registered', ({ registration: { endpoint } }) => {
    if (answering(endpoint)) registeredAt.set(endpoint, performance.now());
    else silentRegistered++;
  });
  const sync = startDeviceSync({
    server,
    db: store.db,
    onDeviceChanged: (endpoint, why) => {
      if (why.kind === 'info' && answering(endpoint) && !readAt.has(endpoint)) {
        readAt.set(endpoint, performance.now());
      }
    },
  });
  persist = (change) => sync.persistBeforeAnswer(change);
  const flood = spawnChild<LoadClientHandlers>('load-client');
  const devices = spawnChild<LoadClientHandlers>('load-client');
  try {
    const target = { host: '127.0.0.1', port: server.address().port, lifetime: 3600 };
    const t0 = performance.now();
    const flooded = flood.call('register', {
      ...target,
      prefix: SILENT_PREFIX,
      count: sizes.silent,
      clients: Math.max(1, Math.min(500, Math.floor(sizes.silent / 10))),
      silent: true,
    });
    await waitFor('half the flood registered', () => silentRegistered >= sizes.silent / 2, timeoutMs);
    const during = Math.ceil(sizes.answering / 2);
    const after = sizes.answering - during;
    await devices.call('register', { ...target, prefix: DURING_PREFIX, count: during, clients: during });
    const floodResult = await flooded;
    const floodSeconds = (performance.now() - t0) / 1000;
    if (after > 0) {
      await devices.call('register', { ...target, prefix: AFTER_PREFIX, count: after, clients: after });
    }
    // In one queue with the flood, the last device waits for every silent read (17 s each, 256 at
    // once): allow for that, so that the figure says how long rather than only "too long".
    const readWaitMs = Math.max(timeoutMs, sizes.silent * 120);
    await waitFor('every answering device read', () => readAt.size >= sizes.answering, readWaitMs, 100).catch(
      (error: Error) => log(`silent-flood ${sizes.silent}: ${error.message}`),
    );
    const now = performance.now();
    const delays = (prefix: string) =>
      [...registeredAt]
        .filter(([endpoint]) => endpoint.startsWith(prefix))
        .map(([endpoint, at]) => ((readAt.get(endpoint) ?? now) - at) / 1000)
        .sort((a, b) => a - b);
    const all = [...delays(DURING_PREFIX), ...delays(AFTER_PREFIX)].sort((a, b) => a - b);
    const unread = sizes.answering - readAt.size;
    const ignored = (await flood.call('stats', undefined)).requestsIgnored;
    const describe = (list: number[]) =>
      list.length === 0
        ? 'none'
        : `median ${median(list).toFixed(2)} s, slowest ${list.at(-1)!.toFixed(2)} s`;
    const note = `${sizes.silent} silent Registers in ${floodSeconds.toFixed(1)} s (${floodResult.registered} answered 2.01), ${ignored} reads of the controller left unanswered by them; ${during} answering devices registered amid the flood (${describe(delays(DURING_PREFIX))}), ${after} after it (${describe(delays(AFTER_PREFIX))})${unread > 0 ? `; ${unread} still unread after ${(readWaitMs / 1000).toFixed(0)} s (counted until then)` : ''}`;
    log(`silent-flood ${sizes.silent}: ${note}`);
    const common = { fleet: sizes.silent + sizes.answering, database: 'pglite' } as const;
    return [
      figure(
        {
          id: `silent-flood.first-read.slowest.${sizes.silent}`,
          what: 'silent flood: Register to first read stored, slowest device that answers',
          value: all.at(-1) ?? 0,
          unit: 's',
          ...common,
          note,
        },
        GOALS.silentFloodFirstRead,
      ),
      figure({
        id: `silent-flood.first-read.median.${sizes.silent}`,
        what: 'silent flood: Register to first read stored, median device that answers',
        value: median(all),
        unit: 's',
        ...common,
      }),
    ];
  } finally {
    await Promise.all([flood.call('close', undefined), devices.call('close', undefined)]).catch(() => {});
    await Promise.all([flood.stop(), devices.stop()]);
    await sync.stop();
    await server.stop();
    await store.close();
  }
}

function median(sorted: readonly number[]): number {
  return sorted.length === 0 ? 0 : sorted[Math.floor((sorted.length - 1) / 2)]!;
}
