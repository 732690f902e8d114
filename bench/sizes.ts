import type { ThroughputSizes } from './scenarios/lwm2m-throughput.js';
import type { SilentFloodSizes } from './scenarios/silent-flood.js';

/** Fleet sizes and time bounds of one bench run. */
export interface BenchSizes {
  readonly throughput: ThroughputSizes;
  readonly rolloutDevices: readonly number[];
  /** Extra rollout sizes, on Postgres only. */
  readonly rolloutPostgresOnly: readonly number[];
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

interface SizeSelection {
  readonly both: readonly number[];
  readonly postgresOnly: readonly number[];
}

/**
 * A list such as `100000,1000000/postgres` from the environment variable `name`, replacing the
 * defaults of any mode: a size with `/postgres` runs on Postgres only (e.g. to time one size
 * without the others).
 */
function sizesFromEnv(name: string, defaults: SizeSelection): SizeSelection {
  const text = process.env[name]?.trim();
  if (!text) return defaults;
  const both: number[] = [];
  const postgresOnly: number[] = [];
  for (const item of text.split(',')) {
    const [size, only] = item.trim().split('/');
    const n = Number(size?.replace(/_/g, ''));
    if (!Number.isInteger(n) || n <= 0 || (only !== undefined && only !== 'postgres')) {
      throw new Error(`${name}: "${item}" is not a device count (optionally with /postgres)`);
    }
    (only ? postgresOnly : both).push(n);
  }
  return { both, postgresOnly };
}

/** `OTACTL_BENCH_RECONCILE=100000,1000000/postgres` replaces the reconcile sizes. */
function reconcileSizes(
  defaults: Pick<BenchSizes, 'reconcileDevices' | 'reconcilePostgresOnly'>,
): Pick<BenchSizes, 'reconcileDevices' | 'reconcilePostgresOnly'> {
  const chosen = sizesFromEnv('OTACTL_BENCH_RECONCILE', {
    both: defaults.reconcileDevices,
    postgresOnly: defaults.reconcilePostgresOnly,
  });
  return { reconcileDevices: chosen.both, reconcilePostgresOnly: chosen.postgresOnly };
}

/**
 * `OTACTL_BENCH_ROLLOUT=5000/postgres` replaces the rollout sizes: a size with `/postgres` rolls out
 * on Postgres only (with `--rollout-on-postgres`, the default of the full run).
 */
function rolloutSizes(
  defaults: readonly number[],
): Pick<BenchSizes, 'rolloutDevices' | 'rolloutPostgresOnly'> {
  const chosen = sizesFromEnv('OTACTL_BENCH_ROLLOUT', { both: defaults, postgresOnly: [] });
  return { rolloutDevices: chosen.both, rolloutPostgresOnly: chosen.postgresOnly };
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
  ...rolloutSizes([200, 1000]),
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
  ...rolloutSizes([1000, 5000]),
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
  rolloutPostgresOnly: [],
  rolloutWindowMs: 60_000,
  reconcileDevices: [500],
  reconcilePostgresOnly: [],
  memoryDevices: [200],
  memorySettleMs: 0,
  memoryBaselineStillSeconds: 0,
  silentFlood: { silent: 200, answering: 10 },
  timeoutMs: 30_000,
};
