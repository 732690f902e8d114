import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type DeviceChange,
  type DeviceSync,
  type DeviceSyncOptions,
  type DeviceSyncStats,
  startDeviceSync,
} from '../../controller/devices/index.js';
import { packImage } from '../../controller/firmware/image/index.js';
import { Lwm2mServer, type Registration } from '../../controller/lwm2m/index.js';
import type { DeviceEvent } from '../../controller/sim/index.js';
import { SimDevice, type SimDeviceOptions } from '../../controller/sim/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import type { TestBackend } from '../helpers/databases.js';

export const MODEL = 'T3';
export const OLD = '1.0.0';
export const NEW = '2.0.0';
export const START = Date.parse('2030-01-01T00:00:00Z');

export const FAST_TIMING = {
  ackTimeoutMs: 200,
  ackRandomFactor: 1,
  maxRetransmit: 3,
  responseTimeoutMs: 5000,
};

let counter = 0;
export function uniqueEndpoint(prefix = 'sync'): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}`;
}

/** Every onDeviceChanged call, and a way to wait for one. */
export class ChangeLog {
  readonly seen: { endpoint: string; why: DeviceChange }[] = [];
  #waiters: { match: (ep: string, why: DeviceChange) => boolean; resolve: () => void }[] = [];

  readonly record = (endpoint: string, why: DeviceChange): void => {
    this.seen.push({ endpoint, why });
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(endpoint, why)) return true;
      w.resolve();
      return false;
    });
  };

  /** Resolves on the first matching change counted from `since` (an index into `seen`). */
  waitFor(endpoint: string, match: (why: DeviceChange) => boolean, since = 0): Promise<void> {
    if (this.seen.slice(since).some((c) => c.endpoint === endpoint && match(c.why))) return Promise.resolve();
    return new Promise((resolve) =>
      this.#waiters.push({ match: (ep, why) => ep === endpoint && match(why), resolve }),
    );
  }

  get length(): number {
    return this.seen.length;
  }
}

export interface SyncEnv {
  readonly db: OpenDatabase;
  readonly server: Lwm2mServer;
  readonly sync: DeviceSync;
  readonly changes: ChangeLog;
  readonly errors: { msg: string; obj: object }[];
  clock: { now: number };
  /** Resolves at the next error the sync logs. */
  nextError(): Promise<void>;
  /** Resolves once `check` holds for the sync's stats: now, or after a probe, interrogation or read ends. */
  statsWhen(check: (stats: DeviceSyncStats) => boolean): Promise<void>;
  device(options?: Partial<SimDeviceOptions>): SimDevice;
  close(): Promise<void>;
}

export async function startEnv(
  backend: TestBackend,
  opts: {
    db?: OpenDatabase;
    port?: number;
    /** Registrations to restore into the server before the sync starts (a restarted controller). */
    restore?: readonly Registration[];
    maxBatch?: number;
    /** Device sync's storm settings. */
    storm?: Pick<DeviceSyncOptions, 'stormBacklog' | 'interrogationsWhileBusy'>;
    /** Device sync's lanes, probes and backoff. */
    lanes?: Pick<
      DeviceSyncOptions,
      | 'maxConcurrentReads'
      | 'maxConcurrentProbes'
      | 'probeTimeoutMs'
      | 'silenceBackoffMs'
      | 'maxSilenceBackoffMs'
      | 'backoffSweepMs'
    >;
    onChanged?: (ep: string, why: DeviceChange) => void;
  } = {},
): Promise<SyncEnv> {
  const db = opts.db ?? (await backend.open());
  const clock = { now: START };
  const server = await Lwm2mServer.start({
    port: opts.port ?? 0,
    host: '127.0.0.1',
    expirySweepMs: 0,
    clock: () => clock.now,
  });
  if (opts.restore !== undefined) server.restoreRegistrations(opts.restore);
  const changes = new ChangeLog();
  const errors: { msg: string; obj: object }[] = [];
  let errorWaiters: (() => void)[] = [];
  const logger = {
    debug() {},
    warn() {},
    error: (obj: object, msg: string) => {
      errors.push({ msg, obj });
      for (const w of errorWaiters) w();
      errorWaiters = [];
    },
  };
  let readWaiters: (() => void)[] = [];
  const sync = startDeviceSync({
    server,
    db: db.db,
    onReadEnded: () => {
      const waiters = readWaiters;
      readWaiters = [];
      for (const w of waiters) w();
    },
    clock: () => clock.now,
    logger,
    ...(opts.maxBatch === undefined ? {} : { maxBatch: opts.maxBatch }),
    ...opts.storm,
    ...opts.lanes,
    onDeviceChanged: (ep, why) => {
      opts.onChanged?.(ep, why);
      changes.record(ep, why);
    },
  });
  const devices: SimDevice[] = [];
  return {
    db,
    server,
    sync,
    changes,
    errors,
    clock,
    nextError: () => new Promise<void>((resolve) => errorWaiters.push(resolve)),
    async statsWhen(check) {
      while (!check(sync.stats())) await new Promise<void>((resolve) => readWaiters.push(resolve));
    },
    device(options = {}) {
      const d = new SimDevice({
        endpoint: uniqueEndpoint(),
        server: { address: '127.0.0.1', port: server.address().port },
        model: MODEL,
        version: OLD,
        bindAddress: '127.0.0.1',
        timing: FAST_TIMING,
        ...options,
      });
      devices.push(d);
      return d;
    },
    async close() {
      await Promise.all(devices.map((d) => d.stop()));
      await sync.stop();
      await server.stop();
      if (opts.db === undefined) await db.close();
    },
  };
}

/** A device's events, and a way to wait for one. */
export function deviceEvents(): {
  onEvent: (e: DeviceEvent) => void;
  next: (kind: DeviceEvent['kind']) => Promise<DeviceEvent>;
} {
  const waiters: { kind: string; resolve: (e: DeviceEvent) => void }[] = [];
  return {
    onEvent: (e) => {
      for (const w of waiters.filter((x) => x.kind === e.kind)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    },
    next: (kind) => new Promise((resolve) => waiters.push({ kind, resolve })),
  };
}

/** An HTTP server with a good firmware image at /fw/good, and /hang which never answers. */
export async function startImageServer(): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const image = packImage({ version: NEW, model: MODEL, payload: Buffer.alloc(3000, 7) });
  const server: Server = createServer((req, res) => {
    if (req.url === '/fw/good') {
      res.writeHead(200, { 'content-length': image.length, 'content-type': 'application/octet-stream' });
      res.end(image);
    }
    // Anything else is left hanging: the device stays in Downloading.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function isInfo(why: DeviceChange): boolean {
  return why.kind === 'info';
}

export const hasResult = (why: DeviceChange) => why.kind === 'firmware-state' && why.result !== undefined;

/** Starts a device and waits until its info and both firmware observations are stored. */
export async function registerAndInterrogate(env: SyncEnv, device: SimDevice): Promise<void> {
  const since = env.changes.length;
  await device.start();
  await env.changes.waitFor(device.endpoint, isInfo, since);
  await env.changes.waitFor(device.endpoint, hasResult, since);
}

export function isState(state: number) {
  return (why: DeviceChange) => why.kind === 'firmware-state' && why.state === state;
}

export function isResult(result: number) {
  return (why: DeviceChange) => why.kind === 'firmware-state' && why.result === result;
}

/** The stored row of `endpoint`. */
export function deviceRow(env: SyncEnv, endpoint: string) {
  return env.db.db
    .selectFrom('devices')
    .selectAll()
    .where('endpoint', '=', endpoint)
    .executeTakeFirstOrThrow();
}
