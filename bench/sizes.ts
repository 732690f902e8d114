import type { ThroughputSizes } from './scenarios/lwm2m-throughput.js';
import type { SilentFloodSizes } from './scenarios/silent-flood.js';

/** Fleet sizes and time bounds of one bench run. */
export interface BenchSizes {
  readonly throughput: ThroughputSizes;
  readonly rolloutDevices: readonly number[];
  /** A rollout still running after this long is measured by the devices updated so far. */
  readonly rolloutWindowMs: number;
  readonly reconcileDevices: readonly number[];
  /** Extra reconcile size, on Postgres only. */
  readonly reconcilePostgresOnly: readonly number[];
  readonly memoryDevices: readonly number[];
  /**
   * Wait after the last device was interrogated before reading memory: answers are kept one CoAP
   * exchange lifetime (21 s with FLEET_TIMING) for duplicate requests, and purged within a second.
   */
  readonly memorySettleMs: number;
  /**
   * How long the controller's RSS must hold still after start-up (pages given back) before the
   * baseline is read; 0 reads it at once (a smoke run, whose memory figures are noise anyway).
   */
  readonly memoryBaselineStillSeconds: number;
  /** Registrations that never answer, and devices that do registering amid and after them. */
  readonly silentFlood: SilentFloodSizes;
  /** Upper bound on any single wait (registration, interrogation). */
  readonly timeoutMs: number;
}

/**
 * `OTACTL_BENCH_RECONCILE=100000,1000000/postgres` replaces the reconcile sizes of any mode: a
 * size with `/postgres` runs on Postgres only (e.g. to time one size without the others).
 */
function reconcileSizes(
  defaults: Pick<BenchSizes, 'reconcileDevices' | 'reconcilePostgresOnly'>,
): Pick<BenchSizes, 'reconcileDevices' | 'reconcilePostgresOnly'> {
  const text = process.env.OTACTL_BENCH_RECONCILE?.trim();
  if (!text) return defaults;
  const both: number[] = [];
  const postgresOnly: number[] = [];
  for (const item of text.split(',')) {
    const [size, only] = item.trim().split('/');
    const n = Number(size?.replace(/_/g, ''));
    if (!Number.isInteger(n) || n <= 0 || (only !== undefined && only !== 'postgres')) {
      throw new Error(`OTACTL_BENCH_RECONCILE: "${item}" is not a device count (optionally with /postgres)`);
    }
    (only ? postgresOnly : both).push(n);
  }
  return { reconcileDevices: both, reconcilePostgresOnly: postgresOnly };
}

export const QUICK: BenchSizes = {
  throughput: {
    registrations: 8000,
    clients: 250,
    reads: 8000,
    readConcurrency: 250,
    warmup: 1000,
    rounds: 5,
  },
  rolloutDevices: [200, 1000],
  rolloutWindowMs: 20_000,
  ...reconcileSizes({ reconcileDevices: [20_000], reconcilePostgresOnly: [] }),
  // Read settled like the full run (the goal's method), not amid the burst's cached answers.
  memoryDevices: [5000],
  memorySettleMs: 25_000,
  memoryBaselineStillSeconds: 5,
  silentFlood: { silent: 10_000, answering: 50 },
  timeoutMs: 60_000,
};

export const FULL: BenchSizes = {
  throughput: {
    registrations: 20_000,
    clients: 1000,
    reads: 50_000,
    readConcurrency: 1000,
    warmup: 2000,
    rounds: 5,
  },
  rolloutDevices: [1000, 5000],
  rolloutWindowMs: 120_000,
  ...reconcileSizes({ reconcileDevices: [100_000], reconcilePostgresOnly: [1_000_000] }),
  memoryDevices: [10_000, 100_000],
  memorySettleMs: 25_000,
  memoryBaselineStillSeconds: 5,
  silentFlood: { silent: 10_000, answering: 200 },
  timeoutMs: 300_000,
};

/** The smoke test's: every figure produced, in seconds. */
export const TINY: BenchSizes = {
  throughput: { registrations: 20, clients: 5, reads: 40, readConcurrency: 5, warmup: 5, rounds: 1 },
  // Memory deltas need a few hundred KB to stand clear of GC noise.
  rolloutDevices: [50],
  rolloutWindowMs: 60_000,
  reconcileDevices: [500],
  reconcilePostgresOnly: [],
  memoryDevices: [200],
  memorySettleMs: 0,
  memoryBaselineStillSeconds: 0,
  silentFlood: { silent: 200, answering: 10 },
  timeoutMs: 30_000,
};
