import type { Kysely } from 'kysely';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { countsOf } from '../api/read-model/to-view.js';
import type { DownloadStats } from '../firmware/download-stats.js';
import { ROLLOUT_PHASES } from '../reconcile/rollout-status.js';
import type { Database } from '../store/schema.js';

export const UPDATE_OUTCOMES = ['succeeded', 'failed', 'cancelled'] as const;
export type UpdateOutcome = (typeof UPDATE_OUTCOMES)[number];

export const COAP_OUTCOMES = ['ok', 'error', 'timeout', 'unreachable'] as const;
export type CoapOutcome = (typeof COAP_OUTCOMES)[number];

/** The counters the controller increments, typed so a wrong label is a compile error. */
export interface LabelledCounter<L extends string> {
  inc(labels: Readonly<Record<L, string>>, value?: number): void;
}

export interface Metrics {
  readonly updatesStarted: LabelledCounter<'rollout'>;
  readonly updatesFinished: {
    inc(labels: { rollout: string; outcome: UpdateOutcome; reason: string }, value?: number): void;
  };
  readonly reconcilePassSeconds: { observe(seconds: number): void };
  readonly coapRequests: { inc(labels: { method: string; outcome: CoapOutcome }, value?: number): void };
  /** kind: register, update, deregister, expired, ... */
  readonly registrations: LabelledCounter<'kind'>;
  /** The exposition text; database gauges are refreshed first. */
  render(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsOptions {
  readonly db?: Kysely<Database>;
  readonly downloadStats?: DownloadStats;
  /** Also export Node's process metrics (CPU, memory, event loop); default false. */
  readonly processMetrics?: boolean;
}

const ROLLOUT_COUNT_FIELDS = [
  'selected',
  'upToDate',
  'pending',
  'inFlight',
  'downloading',
  'downloaded',
  'updating',
  'succeeded',
  'failed',
  'waitingForWindow',
] as const;

/** Every instrument lives in its own Registry, never prom-client's global one. */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'otactl_' });

  const updatesStarted = new Counter({
    name: 'otactl_updates_started_total',
    help: 'Firmware update attempts started',
    labelNames: ['rollout'] as const,
    registers,
  });
  const updatesFinished = new Counter({
    name: 'otactl_updates_finished_total',
    help: 'Firmware update attempts finished, by outcome and failure reason',
    labelNames: ['rollout', 'outcome', 'reason'] as const,
    registers,
  });
  const reconcilePassSeconds = new Histogram({
    name: 'otactl_reconcile_pass_seconds',
    help: 'Duration of one reconcile pass',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const coapRequests = new Counter({
    name: 'otactl_coap_requests_total',
    help: 'CoAP requests sent to devices, by method and outcome',
    labelNames: ['method', 'outcome'] as const,
    registers,
  });
  const registrations = new Counter({
    name: 'otactl_registrations_total',
    help: 'LwM2M registration interface operations, by kind',
    labelNames: ['kind'] as const,
    registers,
  });

  const database = options.db ? createDatabaseGauges(options.db, registers) : undefined;
  if (options.downloadStats) createDownloadGauges(options.downloadStats, registers);

  return {
    updatesStarted,
    updatesFinished,
    reconcilePassSeconds,
    coapRequests,
    registrations,
    contentType: registry.contentType,
    async render() {
      await database?.refresh();
      return registry.metrics();
    },
  };
}

type Registers = Registry[];

/**
 * Gauges read from the database at scrape time with a few set-based queries (their cost
 * does not grow with the number of rows scanned by the scraper, only with the fleet's GROUP BY).
 */
function createDatabaseGauges(db: Kysely<Database>, registers: Registers) {
  const up = new Gauge({
    name: 'otactl_database_up',
    help: '1 when the last scrape could read the database',
    registers,
  });
  const devices = new Gauge({
    name: 'otactl_devices',
    help: 'Known devices by registration state',
    labelNames: ['registration_state'] as const,
    registers,
  });
  const activeUpdates = new Gauge({
    name: 'otactl_updates_active',
    help: 'Active (in flight) firmware updates by rollout and phase',
    labelNames: ['rollout', 'phase'] as const,
    registers,
  });
  const rolloutPhase = new Gauge({
    name: 'otactl_rollout_phase',
    help: '1 for the phase a rollout is in, 0 for the others',
    labelNames: ['rollout', 'phase'] as const,
    registers,
  });
  const rolloutStep = new Gauge({
    name: 'otactl_rollout_current_step',
    help: 'Index (0-based) of the step a rollout is in',
    labelNames: ['rollout'] as const,
    registers,
  });
  const rolloutProgress = new Gauge({
    name: 'otactl_rollout_progress_ratio',
    help: 'Devices up to date / devices selected',
    labelNames: ['rollout'] as const,
    registers,
  });
  const rolloutDevices = new Gauge({
    name: 'otactl_rollout_devices',
    help: "A rollout's device counts as last written by the reconciler",
    labelNames: ['rollout', 'count'] as const,
    registers,
  });
  const rolloutFailed = new Gauge({
    name: 'otactl_rollout_failed_devices',
    help: 'Devices whose update failed, by rollout and reason',
    labelNames: ['rollout', 'reason'] as const,
    registers,
  });
  const gauges = [
    devices,
    activeUpdates,
    rolloutPhase,
    rolloutStep,
    rolloutProgress,
    rolloutDevices,
    rolloutFailed,
  ];

  const refresh = async (): Promise<void> => {
    try {
      const [deviceRows, activeRows, rollouts] = await Promise.all([
        db
          .selectFrom('devices')
          .select(['registration_state', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('registration_state')
          .execute(),
        db
          .selectFrom('firmware_updates')
          .select(['rollout', 'phase', (eb) => eb.fn.countAll<number>().as('n')])
          .where('finished_at', 'is', null)
          .groupBy(['rollout', 'phase'])
          .execute(),
        db.selectFrom('rollouts').select(['name', 'phase', 'current_step', 'counts']).execute(),
      ]);
      for (const gauge of gauges) gauge.reset();
      for (const state of ['registered', 'expired', 'deregistered'] as const)
        devices.set({ registration_state: state }, 0);
      for (const row of deviceRows) {
        devices.set({ registration_state: row.registration_state ?? 'never' }, Number(row.n));
      }
      for (const row of activeRows)
        activeUpdates.set({ rollout: row.rollout, phase: row.phase }, Number(row.n));
      for (const row of rollouts) {
        for (const phase of ROLLOUT_PHASES) {
          rolloutPhase.set({ rollout: row.name, phase }, row.phase === phase ? 1 : 0);
        }
        rolloutStep.set({ rollout: row.name }, row.current_step);
        const counts = countsOf(row.counts);
        rolloutProgress.set(
          { rollout: row.name },
          counts.selected > 0 ? Math.min(1, counts.upToDate / counts.selected) : 0,
        );
        for (const field of ROLLOUT_COUNT_FIELDS) {
          rolloutDevices.set({ rollout: row.name, count: field }, counts[field]);
        }
        for (const [reason, n] of Object.entries(counts.failedByReason)) {
          rolloutFailed.set({ rollout: row.name, reason }, n);
        }
      }
      up.set(1);
    } catch {
      // A scrape must still answer (with the process counters) when the database is away.
      for (const gauge of gauges) gauge.reset();
      up.set(0);
    }
  };
  // Concurrent scrapes share one refresh, so their resets and sets never interleave.
  let running: Promise<void> | undefined;
  return {
    refresh: () => {
      running ??= refresh().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}

function createDownloadGauges(stats: DownloadStats, registers: Registers): void {
  new Counter({
    name: 'otactl_firmware_bytes_served_total',
    help: 'Firmware bytes sent to devices, by file',
    labelNames: ['file'] as const,
    registers,
    collect() {
      this.reset();
      for (const [file, bytes] of stats.bytesByFile()) this.inc({ file }, bytes);
    },
  });
  new Gauge({
    name: 'otactl_firmware_downloads_in_progress',
    help: 'Firmware downloads in progress, by protocol',
    labelNames: ['protocol'] as const,
    registers,
    collect() {
      this.reset();
      for (const protocol of ['http', 'https', 'coap'] as const) this.set({ protocol }, 0);
      for (const download of stats.inProgress()) this.inc({ protocol: download.protocol });
    },
  });
}
