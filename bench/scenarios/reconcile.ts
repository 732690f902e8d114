import { sql } from 'kysely';
import { createWorkspace, groupManifest } from '../../controller/demo/workspace.js';
import { loadDesiredState } from '../../controller/manifests/index.js';
import { readRollout } from '../../controller/reconcile/read/load-observation.js';
import { reconcilePass } from '../../controller/reconcile/run/reconcile-pass.js';
import type { DeviceOps } from '../../controller/reconcile/write/device-ops.js';
import { DEFAULT_TIMEOUTS, type ExecutorDeps } from '../../controller/reconcile/write/executor.js';
import type { BenchDatabase } from '../databases.js';
import { type Figure, figure, GOALS } from '../figure.js';
import { countQueries } from '../query-counter.js';
import { benchRollout } from '../workspace.js';

const MODEL = 'SIM1';
const MAX_IN_FLIGHT = 1000;
const CANARY_STEPS = [1, 10, 50, 100];
const CANARY_ROOM = 1000;

/** No device is connected: every request ends `unreachable`, so a pass changes nothing on devices. */
const idleOps: DeviceOps = {
  writePackageUri: async () => ({ kind: 'unreachable', reason: 'bench: no device connected' }),
  executeUpdate: async () => ({ kind: 'unreachable', reason: 'bench: no device connected' }),
  cancelUpdate: async () => ({ kind: 'unreachable', reason: 'bench: no device connected' }),
  pollFirmwareState: async () => undefined,
  readFirmwareVersion: async () => {},
  readErrorCode: async () => {},
};

/**
 * Figure 5: a database holding `devices` registered devices (inserted set-based) mid-way through one
 * rollout over all of them: 30% already updated (with a succeeded update row), `MAX_IN_FLIGHT`
 * downloading, the rest eligible. Times `reconcilePass` twice: the first starts nothing (in flight
 * is full), the second likewise, warm; and counts statements. Then times the rollout's read alone as
 * it would be with canary steps and room to start updates (the members sorted into canary order),
 * for the note.
 */
export async function measureReconcilePass(
  devices: number,
  database: BenchDatabase,
  log: (line: string) => void,
): Promise<Figure[]> {
  const ws = await createWorkspace('otactl-bench-');
  const store = await database.open();
  try {
    const target = await ws.addFirmware('2.0.0', MODEL);
    await ws.writeManifest(
      'fleet.yaml',
      [target.manifest, groupManifest('bench', 'bench-*'), benchRollout(target.name, MAX_IN_FLIGHT)].join(
        '---\n',
      ),
    );
    const loaded = await loadDesiredState(ws.manifestsDir, { firmwareDir: ws.firmwareDir, git: false });
    if (!loaded.ok) throw new Error(`bench manifests invalid: ${JSON.stringify(loaded.problems)}`);

    const tInsert = performance.now();
    const updated = Math.floor(devices * 0.3);
    const inFlight = Math.min(MAX_IN_FLIGHT, devices - updated);
    await sql`
      insert into devices (endpoint, registration_id, registration_state, address, port, lifetime_s, binding,
        lwm2m_version, registered_at, last_seen_at, expires_at, manufacturer, model, serial_number,
        firmware_version, info_read_at, fw_protocol_support, fw_delivery_method, fw_state, fw_result,
        fw_reported_at, updated_at)
      select 'bench-' || lpad(i::text, 7, '0'), 'r' || i, 'registered', '127.0.0.1', 10000 + i % 50000, 3600, 'U',
        '1.1', now(), now(), now() + interval '1 hour', 'Bench', ${MODEL}, 'SN' || i,
        case when i <= ${updated} then '2.0.0' else '1.0.0' end, now(), array[2], 0,
        case when i > ${updated} and i <= ${updated + inFlight} then 1 else 0 end, 0, now(), now()
      from generate_series(1, ${devices}) as i`.execute(store.db);
    await sql`
      insert into firmware_updates (device_id, endpoint, rollout, firmware, target_version, from_version,
        package_uri, attempt, phase, state, result, created_at, phase_changed_at, deadline_at, uri_written_at,
        finished_at)
      select d.id, d.endpoint, 'bench-2.0.0', ${target.name}, '2.0.0', '1.0.0', 'http://127.0.0.1/x.bin', 1,
        case when d.firmware_version = '2.0.0' then 'succeeded' else 'downloading' end,
        case when d.firmware_version = '2.0.0' then 0 else 1 end,
        case when d.firmware_version = '2.0.0' then 1 else 0 end,
        now(), now(),
        case when d.firmware_version = '2.0.0' then null else now() + interval '30 minutes' end,
        now(),
        case when d.firmware_version = '2.0.0' then now() else null end
      from devices d
      where d.firmware_version = '2.0.0' or d.fw_state = 1`.execute(store.db);
    await sql`analyze`.execute(store.db);
    const insertSeconds = (performance.now() - tInsert) / 1000;

    const { db, counter } = countQueries(store.db);
    const deps: ExecutorDeps = {
      db,
      ops: idleOps,
      packageUri: () => ({ ok: true, uri: 'http://127.0.0.1/x.bin' }),
      clock: Date.now,
      timeoutsOf: () => DEFAULT_TIMEOUTS,
    };
    const options = { pollQuietMs: 30 * 60_000, concurrency: 256 };
    const timings: { ms: number; queries: number; started: number; actions: number; top: string }[] = [];
    for (let i = 0; i < 3; i++) {
      counter.reset();
      const t0 = performance.now();
      const result = await reconcilePass(deps, loaded.state, options);
      timings.push({
        ms: performance.now() - t0,
        queries: counter.count,
        started: result.started,
        actions: result.actions,
        top: counter.top(3),
      });
    }
    const first = timings[0]!;
    const best = timings.slice(1).reduce((a, b) => (b.ms < a.ms ? b : a));
    log(
      `reconcile ${devices}/${database.kind}: first ${first.ms.toFixed(0)} ms, warm ${best.ms.toFixed(0)} ms, ${best.queries} queries (rows inserted in ${insertSeconds.toFixed(1)} s)`,
    );

    // The same group with canary steps, and room for CANARY_ROOM more updates (the seeded rows
    // were all created within the last minute, so the rate limit is raised past them).
    const rollout = [...loaded.state.rollouts.values()][0]!;
    const canary = {
      ...rollout,
      strategy: {
        ...rollout.strategy,
        steps: CANARY_STEPS.map((percent) => ({ percent, pause: { kind: 'none' as const } })),
        maxInFlight: inFlight + CANARY_ROOM,
        maxPerMinute: devices + CANARY_ROOM,
      },
    };
    let readMs = Number.POSITIVE_INFINITY;
    let readCandidates = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const read = await readRollout(store.db, canary, [], Date.now());
      readMs = Math.min(readMs, performance.now() - t0);
      readCandidates = read.candidates.length;
    }
    log(`reconcile ${devices}/${database.kind}: read with canary steps ${readMs.toFixed(0)} ms`);
    const goal =
      devices >= 1_000_000 ? GOALS.reconcile1m : devices >= 100_000 ? GOALS.reconcile100k : undefined;
    const common = { unit: 'ms', fleet: devices, database: database.kind } as const;
    const shape = `${updated} updated, ${inFlight} downloading, ${devices - updated - inFlight} eligible; maxInFlight ${MAX_IN_FLIGHT}`;
    return [
      figure(
        {
          id: `reconcile.pass.${devices}.${database.kind}`,
          what: 'reconcile pass, one rollout over every device (warm, best of 2)',
          value: best.ms,
          ...common,
          note: `${best.queries} statements, ${best.started} started, ${best.actions} device actions; ${shape}; most time: ${best.top}; the rollout's read with steps ${CANARY_STEPS.join('/')}% and room for ${CANARY_ROOM} starts: ${readMs.toFixed(0)} ms (${readCandidates} candidates)`,
        },
        goal,
      ),
      figure({
        id: `reconcile.first-pass.${devices}.${database.kind}`,
        what: 'reconcile pass, first (cold) pass',
        value: first.ms,
        ...common,
        note: `${first.queries} statements, ${first.started} started`,
      }),
      figure({
        id: `reconcile.queries.${devices}.${database.kind}`,
        what: 'reconcile pass: database statements',
        value: best.queries,
        unit: 'queries',
        fleet: devices,
        database: database.kind,
      }),
    ];
  } finally {
    await store.close();
    await ws.remove();
  }
}
