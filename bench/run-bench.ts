import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { benchDatabases, pgliteDatabase, postgresDatabase } from './databases.js';
import type { Figure } from './figure.js';
import { summariseRuns } from './repeat.js';
import { measureLwm2mThroughput } from './scenarios/lwm2m-throughput.js';
import { measureControllerMemory } from './scenarios/memory.js';
import { measureReconcilePass } from './scenarios/reconcile.js';
import { measureReplicaRollout } from './scenarios/replica-rollout.js';
import { measureRollout } from './scenarios/rollout.js';
import { measureSilentFlood } from './scenarios/silent-flood.js';
import type { BenchSizes } from './sizes.js';

export const SCENARIOS = ['throughput', 'rollout', 'reconcile', 'memory', 'silent-flood'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  readonly sizes: BenchSizes;
  readonly mode: 'quick' | 'full' | 'tiny';
  readonly only?: readonly ScenarioName[];
  readonly postgresUrl?: string;
  /** Rollout scenarios on Postgres too (the full run); quick runs roll out on PGlite only. */
  readonly rolloutOnPostgres?: boolean;
  /**
   * Above 1: the rollout scenario runs on Postgres only, on this many `otactl run` processes sharing
   * the database and the fleet (figures `rollout.*.postgres.replicas-N`), not one in-process controller.
   */
  readonly replicas?: number;
  readonly log?: (line: string) => void;
}

export interface BenchResults {
  readonly mode: BenchOptions['mode'];
  readonly startedAt: string;
  readonly seconds: number;
  readonly machine: { readonly cpus: number; readonly node: string; readonly platform: string };
  readonly figures: readonly Figure[];
  /** Scenarios that failed, with why; their figures are missing. */
  readonly failures: readonly { readonly scenario: ScenarioName; readonly error: string }[];
}

/** Runs the chosen scenarios one after another (they would skew each other in parallel). */
export async function runBench(options: BenchOptions): Promise<BenchResults> {
  const log = options.log ?? (() => {});
  const { sizes } = options;
  const chosen = new Set(options.only ?? SCENARIOS);
  const databases = benchDatabases(options.postgresUrl);
  const figures: Figure[] = [];
  const failures: { scenario: ScenarioName; error: string }[] = [];
  const startedAt = new Date();
  const t0 = performance.now();
  const run = async (scenario: ScenarioName, body: () => Promise<Figure[]>) => {
    if (!chosen.has(scenario)) return;
    const started = performance.now();
    try {
      figures.push(...(await body()));
      log(`${scenario}: done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`${scenario} failed: ${message}`);
      failures.push({ scenario, error: message });
    }
  };

  await run('throughput', () => measureLwm2mThroughput(sizes.throughput, databases, log));
  await run('rollout', async () => {
    const out: Figure[] = [];
    const replicas = options.replicas ?? 1;
    // Several replicas need Postgres; PGlite's figure is the single-replica one.
    if (replicas > 1) {
      if (!options.postgresUrl) throw new Error('several replicas need Postgres');
      for (const n of [...sizes.rolloutDevices, ...sizes.rolloutPostgresOnly]) {
        out.push(...(await measureReplicaRollout(n, replicas, options.postgresUrl, log, sizes)));
      }
      return out;
    }
    const rolloutDbs = options.rolloutOnPostgres ? databases : [pgliteDatabase];
    for (const database of rolloutDbs) {
      const devices =
        database.kind === 'postgres'
          ? [...sizes.rolloutDevices, ...sizes.rolloutPostgresOnly]
          : sizes.rolloutDevices;
      for (const n of devices) {
        out.push(...(await measureRollout(n, database, log, sizes.timeoutMs, sizes.rolloutWindowMs)));
      }
    }
    return out;
  });
  await run('reconcile', async () => {
    const out: Figure[] = [];
    for (const database of databases) {
      for (const n of sizes.reconcileDevices) out.push(...(await measureReconcilePass(n, database, log)));
    }
    if (options.postgresUrl) {
      for (const n of sizes.reconcilePostgresOnly) {
        out.push(...(await measureReconcilePass(n, postgresDatabase(options.postgresUrl), log)));
      }
    }
    return out;
  });
  await run('memory', async () => {
    const out: Figure[] = [];
    for (const n of sizes.memoryDevices) {
      out.push(
        ...(await measureControllerMemory(
          n,
          log,
          sizes.timeoutMs,
          sizes.memorySettleMs,
          sizes.memoryBaselineStillSeconds,
        )),
      );
    }
    return out;
  });
  await run('silent-flood', () => measureSilentFlood(sizes.silentFlood, log, sizes.timeoutMs));

  return {
    mode: options.mode,
    startedAt: startedAt.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    machine: { cpus: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.arch()}` },
    figures,
    failures,
  };
}

export async function writeResults(path: string, results: BenchResults): Promise<void> {
  await writeFile(path, `${JSON.stringify(results, null, 2)}\n`);
}

/** `runBench` `times` times in a row; each figure becomes the median of its runs, every run kept as a sample. */
export async function runBenchRepeated(times: number, options: BenchOptions): Promise<BenchResults> {
  const runs: BenchResults[] = [];
  for (let i = 0; i < times; i++) {
    if (times > 1) options.log?.(`run ${i + 1} of ${times}`);
    runs.push(await runBench(options));
  }
  const first = runs[0]!;
  return {
    ...first,
    seconds: runs.reduce((sum, r) => sum + r.seconds, 0),
    figures: summariseRuns(runs.map((r) => r.figures)),
    failures: runs.flatMap((r) => r.failures),
  };
}
