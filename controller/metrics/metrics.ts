import { type Kysely, sql } from 'kysely';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DownloadStats } from '../firmware/download-stats.js';
import { NOTIFICATION_EVENTS } from '../manifests/notification-events.js';
import {
  parseRolloutCounts,
  ROLLOUT_COUNT_FIELDS,
  type RolloutCounts,
} from '../reconcile/plan/rollout-counts.js';
import { needsAttention, ROLLOUT_PHASES } from '../reconcile/plan/rollout-status.js';
import { countCommands } from '../replicas/command-view.js';
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
  /**
   * kind: registered, updated, deregistered, expired (committed changes); register-refused (4.03:
   * a DTLS identity of another endpoint, an endpoint with credentials over plain CoAP, a takeover of
   * a DTLS registration); update-refused and deregister-refused (from another source than the
   * registration's: address and port on plain CoAP, identity over DTLS).
   */
  readonly registrations: LabelledCounter<'kind'>;
  /** Event stream listeners closed by the server, by reason (queue-full, stalled). */
  readonly eventStreamsDropped: LabelledCounter<'reason'>;
  /** HTTP connections refused before any request was read, by reason (address-full, server-full). */
  readonly httpConnectionsRefused: LabelledCounter<'reason'>;
  /** Reconcile failures, by scope: one rollout, one update, or a whole pass. */
  readonly reconcileErrors: LabelledCounter<'scope'>;
  /** The exposition text; database gauges are refreshed first. */
  render(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsOptions {
  readonly db?: Kysely<Database>;
  readonly downloadStats?: DownloadStats;
  /** Also export Node's process metrics (CPU, memory, event loop); default false. */
  readonly processMetrics?: boolean;
  /** Read at each scrape: persistent failures of the device writes and of the reconcile loop. */
  readonly health?: () => ControllerHealth;
}

/** What the controller's parts report about their persistent failures (see README, /readyz). */
export interface ControllerHealth {
  /** Device writes dropped because the database refused their data, since start. */
  readonly deviceWritesQuarantined: number;
  /** Device writes have failed (other than refused data) for longer than the readiness bound. */
  readonly deviceWritesFailing: boolean;
  /** Reconcile passes have failed for longer than the readiness bound. */
  readonly reconcileFailing: boolean;
  /** This replica and its part in the planner lease (absent: no lease, the sole planner). */
  readonly replica?: ReplicaHealth;
}

export interface ReplicaHealth {
  readonly id: string;
  /** Acts as the planner leader now (by its own renew deadline). */
  readonly leader: boolean;
  /** The lease epoch it leads with; null as a follower. */
  readonly epoch: number | null;
  /** Its last attempt to acquire or renew the lease failed (the database did not answer). */
  readonly leaseFailing: boolean;
}

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
  const byReason = (name: string, help: string) =>
    new Counter({ name, help, labelNames: ['reason'] as const, registers });
  const eventStreamsDropped = byReason(
    'otactl_event_streams_dropped_total',
    'Event stream listeners closed by the server because they did not read, by reason',
  );
  const httpConnectionsRefused = byReason(
    'otactl_http_connections_refused_total',
    'HTTP(S) connections refused by the connection caps, by reason',
  );

  const reconcileErrors = new Counter({
    name: 'otactl_reconcile_errors_total',
    help: 'Reconcile failures, by scope: a rollout (its planning), an update (its step), or a whole pass',
    labelNames: ['scope'] as const,
    registers,
  });
  for (const scope of ['rollout', 'update', 'pass']) reconcileErrors.inc({ scope }, 0);

  const database = options.db ? createDatabaseGauges(options.db, registers) : undefined;
  if (options.downloadStats) createDownloadGauges(options.downloadStats, registers);
  if (options.health) for (const metric of HEALTH_METRICS) register(metric, registers, options.health);

  return {
    updatesStarted,
    updatesFinished,
    reconcilePassSeconds,
    coapRequests,
    registrations,
    eventStreamsDropped,
    httpConnectionsRefused,
    reconcileErrors,
    contentType: registry.contentType,
    async render() {
      await database?.refresh();
      return registry.metrics();
    },
  };
}

type Registers = Registry[];

/** One sample of a metric read at scrape time: its label values and the amount it adds. */
interface Sample<L extends string> {
  readonly labels: Readonly<Record<L, string>>;
  readonly value: number;
}

/**
 * A metric whose samples are read from `S` at scrape time. After a reset every sample adds to
 * its label set, so a read may list a label set at 0 first (to always export it) and add later.
 */
interface ReadMetric<S, L extends string = string> {
  readonly type: 'gauge' | 'counter';
  readonly name: string;
  readonly help: string;
  readonly labels: readonly L[];
  /** The samples, in the order they are exported. */
  read(source: S): Iterable<Sample<L>>;
}

/** Declares a metric read from `S`; a sample with a label outside `labels` is a compile error. */
function readFrom<S>() {
  return <const L extends string>(metric: ReadMetric<S, L>): ReadMetric<S> => metric;
}

/** The prom-client instrument of `metric`; with `collectFrom`, it reads that source at each scrape. */
function register<S>(metric: ReadMetric<S>, registers: Registers, collectFrom?: S): Gauge | Counter {
  const config = {
    name: metric.name,
    help: metric.help,
    labelNames: metric.labels,
    registers,
    ...(collectFrom === undefined
      ? {}
      : {
          collect(this: Gauge | Counter) {
            fill(this, metric, collectFrom);
          },
        }),
  };
  return metric.type === 'gauge' ? new Gauge(config) : new Counter(config);
}

function fill<S>(instrument: Gauge | Counter, metric: ReadMetric<S>, source: S): void {
  instrument.reset();
  for (const sample of metric.read(source)) instrument.inc(sample.labels, sample.value);
}

/** What one scrape reads from the database. */
interface DatabaseSnapshot {
  readonly devices: readonly {
    readonly registrationState: string | null;
    /** The replica its last Register or Update came to. */
    readonly owner: string | null;
    readonly n: number;
  }[];
  readonly activeUpdates: readonly { readonly rollout: string; readonly phase: string; readonly n: number }[];
  /** Device requests in flight (`device_commands`) by the replica that claimed them and their kind. */
  readonly commands: readonly { readonly replica: string; readonly kind: string; readonly n: number }[];
  readonly rollouts: readonly {
    readonly name: string;
    readonly phase: string;
    readonly currentStep: number;
    readonly needsAttention: boolean;
    readonly counts: RolloutCounts;
  }[];
  /** The last load of the manifests was valid (manifests_status.ready); undefined before the first. */
  readonly manifestsReady: boolean | undefined;
  /** The last `--git-url` sync succeeded; undefined without one. */
  readonly gitSyncOk: boolean | undefined;
  readonly notifications: readonly {
    readonly name: string;
    readonly sent: number;
    readonly givenUp: number;
    readonly attempts: number;
    readonly backlog: number;
  }[];
}

async function readDatabase(db: Kysely<Database>): Promise<DatabaseSnapshot> {
  const [devices, activeUpdates, commands, rollouts, manifests, gitSync, notifications] = await Promise.all([
    db
      .selectFrom('devices')
      .select(['registration_state', 'owner_replica', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['registration_state', 'owner_replica'])
      .execute(),
    db
      .selectFrom('firmware_updates')
      .select(['rollout', 'phase', (eb) => eb.fn.countAll<number>().as('n')])
      .where('finished_at', 'is', null)
      .groupBy(['rollout', 'phase'])
      .execute(),
    countCommands(db),
    db.selectFrom('rollouts').select(['name', 'phase', 'current_step', 'counts', 'conditions']).execute(),
    db.selectFrom('manifests_status').select('ready').where('id', '=', 1).executeTakeFirst(),
    db.selectFrom('git_sync_status').select('ok').where('id', '=', 1).executeTakeFirst(),
    // The backlog counts notifiable events of any type after the cursor (bounded): what the
    // Notification has yet to look at, whether or not it asks for each.
    sql<{
      name: string;
      sent: string | number;
      given_up: string | number;
      attempts: number;
      backlog: string | number;
    }>`
      select d.name, d.sent, d.given_up, d.attempts,
        (select count(*) from (select 1 from events e where e.id > d.last_event_id
           and e.type in (${sql.raw(NOTIFICATION_EVENTS.map((t) => `'${t}'`).join(', '))}) limit 10000) b) as backlog
      from notification_deliveries d`
      .execute(db)
      .then((r) => r.rows),
  ]);
  return {
    devices: devices.map((row) => ({
      registrationState: row.registration_state,
      owner: row.owner_replica,
      n: Number(row.n),
    })),
    activeUpdates: activeUpdates.map((row) => ({ rollout: row.rollout, phase: row.phase, n: Number(row.n) })),
    commands,
    rollouts: rollouts.map((row) => ({
      name: row.name,
      phase: row.phase,
      currentStep: row.current_step,
      needsAttention: needsAttention(row.conditions),
      counts: parseRolloutCounts(row.counts),
    })),
    manifestsReady: manifests?.ready,
    gitSyncOk: gitSync?.ok,
    notifications: notifications.map((row) => ({
      name: row.name,
      sent: Number(row.sent),
      givenUp: Number(row.given_up),
      attempts: row.attempts,
      backlog: Number(row.backlog),
    })),
  };
}

const fromDatabase = readFrom<DatabaseSnapshot>();

/** The gauges read from the database, in the order they are exported. */
const DATABASE_GAUGES: ReadMetric<DatabaseSnapshot>[] = [
  fromDatabase({
    type: 'gauge',
    name: 'otactl_manifests_valid',
    help: '1 when the last load of the manifests was valid; 0 while the controller acts on the last valid set (see /api/v1/manifests), or before the first load',
    labels: [],
    *read({ manifestsReady }) {
      yield { labels: {}, value: manifestsReady ? 1 : 0 };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_git_sync_failing',
    help: '1 while the syncs of the --git-url clone fail (a rewritten or unreachable remote: see gitSync in /api/v1/manifests); 0 when the last one succeeded, or without --git-url',
    labels: [],
    *read({ gitSyncOk }) {
      yield { labels: {}, value: gitSyncOk === false ? 1 : 0 };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_devices',
    help: 'Known devices by registration state',
    labels: ['registration_state'],
    *read({ devices }) {
      const byState = new Map<string, number>(['registered', 'expired', 'deregistered'].map((s) => [s, 0]));
      for (const row of devices) {
        const state = row.registrationState ?? 'never';
        byState.set(state, (byState.get(state) ?? 0) + row.n);
      }
      for (const [state, n] of byState) yield { labels: { registration_state: state }, value: n };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_replica_devices',
    help: 'Registered devices by the replica their last Register or Update came to (the one that reaches them)',
    labels: ['replica'],
    *read({ devices }) {
      for (const row of devices)
        if (row.registrationState === 'registered' && row.owner !== null)
          yield { labels: { replica: row.owner }, value: row.n };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_device_commands',
    help: 'Device requests in flight (claimed in device_commands and not yet settled), by the replica sending them and kind (write-uri, execute, reset, read)',
    labels: ['replica', 'kind'],
    *read({ commands }) {
      for (const row of commands) yield { labels: { replica: row.replica, kind: row.kind }, value: row.n };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_updates_active',
    help: 'Active (in flight) firmware updates by rollout and phase',
    labels: ['rollout', 'phase'],
    *read({ activeUpdates }) {
      for (const row of activeUpdates)
        yield { labels: { rollout: row.rollout, phase: row.phase }, value: row.n };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_rollout_phase',
    help: '1 for the phase a rollout is in, 0 for the others',
    labels: ['rollout', 'phase'],
    *read({ rollouts }) {
      for (const row of rollouts)
        for (const phase of ROLLOUT_PHASES)
          yield { labels: { rollout: row.name, phase }, value: row.phase === phase ? 1 : 0 };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_rollout_needs_attention',
    help: '1 when a rollout needs someone to act (its Stalled condition is True: aborted, degraded, no devices, conflict, paused by its failure threshold)',
    labels: ['rollout'],
    *read({ rollouts }) {
      for (const row of rollouts) yield { labels: { rollout: row.name }, value: row.needsAttention ? 1 : 0 };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_rollout_current_step',
    help: 'Index (0-based) of the step a rollout is in',
    labels: ['rollout'],
    *read({ rollouts }) {
      for (const row of rollouts) yield { labels: { rollout: row.name }, value: row.currentStep };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_rollout_progress_ratio',
    help: 'Devices up to date / devices selected',
    labels: ['rollout'],
    *read({ rollouts }) {
      for (const { name, counts } of rollouts)
        yield {
          labels: { rollout: name },
          value: counts.selected > 0 ? Math.min(1, counts.upToDate / counts.selected) : 0,
        };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_rollout_devices',
    help: "A rollout's device counts as last written by the reconciler",
    labels: ['rollout', 'count'],
    *read({ rollouts }) {
      for (const { name, counts } of rollouts)
        for (const field of ROLLOUT_COUNT_FIELDS)
          yield { labels: { rollout: name, count: field }, value: counts[field] };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_rollout_failed_devices',
    help: 'Devices whose update failed, by rollout and reason',
    labels: ['rollout', 'reason'],
    *read({ rollouts }) {
      for (const { name, counts } of rollouts)
        for (const [reason, n] of Object.entries(counts.failedByReason))
          yield { labels: { rollout: name, reason }, value: n };
    },
  }),
];

for (const [name, help, field] of [
  ['otactl_notifications_sent_total', 'Events a Notification delivered (2xx), since it was created', 'sent'],
  [
    'otactl_notifications_given_up_total',
    'Events a Notification gave up on after maxRetryTime (each logged)',
    'givenUp',
  ],
] as const) {
  DATABASE_GAUGES.push(
    fromDatabase({
      type: 'counter',
      name,
      help,
      labels: ['notification'],
      *read({ notifications }) {
        for (const row of notifications) yield { labels: { notification: row.name }, value: row[field] };
      },
    }),
  );
}
DATABASE_GAUGES.push(
  fromDatabase({
    type: 'gauge',
    name: 'otactl_notification_failing_attempts',
    help: 'Failed attempts at the event a Notification is retrying (0: delivering fine)',
    labels: ['notification'],
    *read({ notifications }) {
      for (const row of notifications) yield { labels: { notification: row.name }, value: row.attempts };
    },
  }),
  fromDatabase({
    type: 'gauge',
    name: 'otactl_notification_backlog',
    help: "Notifiable events after a Notification's cursor, up to 10,000: what it has yet to deliver or pass over",
    labels: ['notification'],
    *read({ notifications }) {
      for (const row of notifications) yield { labels: { notification: row.name }, value: row.backlog };
    },
  }),
);

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
  const gauges = DATABASE_GAUGES.map((metric) => ({ metric, gauge: register(metric, registers) }));

  const refresh = async (): Promise<void> => {
    try {
      const snapshot = await readDatabase(db);
      for (const { metric, gauge } of gauges) fill(gauge, metric, snapshot);
      up.set(1);
    } catch {
      // A scrape must still answer (with the process counters) when the database is away.
      for (const { gauge } of gauges) gauge.reset();
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

const fromDownloads = readFrom<DownloadStats>();

/** The metrics read from the download statistics, in the order they are exported. */
const DOWNLOAD_METRICS: readonly ReadMetric<DownloadStats>[] = [
  fromDownloads({
    type: 'counter',
    name: 'otactl_firmware_bytes_served_total',
    help: 'Firmware bytes sent to devices, by file',
    labels: ['file'],
    *read(stats) {
      for (const [file, bytes] of stats.bytesByFile()) yield { labels: { file }, value: bytes };
    },
  }),
  fromDownloads({
    type: 'gauge',
    name: 'otactl_firmware_downloads_in_progress',
    help: 'Firmware downloads in progress, by protocol',
    labels: ['protocol'],
    *read(stats) {
      for (const protocol of ['http', 'https', 'coap']) yield { labels: { protocol }, value: 0 };
      for (const download of stats.inProgress()) yield { labels: { protocol: download.protocol }, value: 1 };
    },
  }),
  fromDownloads({
    type: 'gauge',
    name: 'otactl_firmware_downloads_waiting',
    help: 'Firmware downloads waiting for a slot of their client address (--max-downloads-per-client)',
    labels: [],
    *read(stats) {
      yield { labels: {}, value: stats.waiting().length };
    },
  }),
  fromDownloads({
    type: 'counter',
    name: 'otactl_firmware_download_wait_seconds_total',
    help: 'Time firmware downloads spent waiting for a slot of their client address, summed over ended waits',
    labels: [],
    *read(stats) {
      yield { labels: {}, value: stats.waitTotals().seconds };
    },
  }),
  fromDownloads({
    type: 'counter',
    name: 'otactl_firmware_download_waits_total',
    help: 'Firmware downloads that waited for a slot of their client address (ended waits)',
    labels: [],
    *read(stats) {
      yield { labels: {}, value: stats.waitTotals().count };
    },
  }),
];

/** Read from the statistics in memory at each scrape, through prom-client's collect hook. */
function createDownloadGauges(stats: DownloadStats, registers: Registers): void {
  for (const metric of DOWNLOAD_METRICS) register(metric, registers, stats);
}

const fromHealth = readFrom<() => ControllerHealth>();

/** The metrics read from the controller's health at each scrape. */
const HEALTH_METRICS: readonly ReadMetric<() => ControllerHealth>[] = [
  fromHealth({
    type: 'counter',
    name: 'otactl_device_writes_quarantined_total',
    help: 'Device writes dropped because the database refused their data (a DeviceWriteRejected event each)',
    labels: [],
    *read(health) {
      yield { labels: {}, value: health().deviceWritesQuarantined };
    },
  }),
  fromHealth({
    type: 'gauge',
    name: 'otactl_device_writes_failing',
    help: '1 while device writes have been failing (database unavailable) for over 30 s',
    labels: [],
    *read(health) {
      yield { labels: {}, value: health().deviceWritesFailing ? 1 : 0 };
    },
  }),
  fromHealth({
    type: 'gauge',
    name: 'otactl_reconcile_failing',
    help: '1 while reconcile passes have been failing for over 30 s',
    labels: [],
    *read(health) {
      yield { labels: {}, value: health().reconcileFailing ? 1 : 0 };
    },
  }),
  fromHealth({
    type: 'gauge',
    name: 'otactl_leader',
    help: '1 while this replica holds the planner lease and plans the rollouts, else 0',
    labels: ['replica'],
    *read(health) {
      const replica = health().replica;
      if (replica) yield { labels: { replica: replica.id }, value: replica.leader ? 1 : 0 };
    },
  }),
  fromHealth({
    type: 'gauge',
    name: 'otactl_lease_epoch',
    help: 'The planner lease epoch this replica leads with (0 as a follower)',
    labels: ['replica'],
    *read(health) {
      const replica = health().replica;
      if (replica) yield { labels: { replica: replica.id }, value: replica.epoch ?? 0 };
    },
  }),
];
