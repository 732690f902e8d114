import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChangeResult } from '../../controller/lwm2m/index.js';
import type { DesiredState, ResolvedRollout } from '../../controller/manifests/index.js';
import { ALL_ACTIVE, loadActiveUpdates } from '../../controller/reconcile/read/load-active-updates.js';
import { ReconcileFailures } from '../../controller/reconcile/run/reconcile-failures.js';
import type { PassResult } from '../../controller/reconcile/run/reconcile-pass.js';
import { Reconciler } from '../../controller/reconcile/run/reconciler.js';
import type { DeviceOps } from '../../controller/reconcile/write/device-ops.js';
import { DEFAULT_TIMEOUTS, type ExecutorDeps, runSteps } from '../../controller/reconcile/write/executor.js';
import { TransitionWriter } from '../../controller/reconcile/write/transition-writer.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { closedWindowDesiredState } from '../helpers/closed-window-rollout.js';
import { testBackends } from '../helpers/databases.js';
import { desiredStateOf } from '../helpers/resolved-rollout.js';
import { createTestClock, Scene } from '../helpers/rollout-fixture.js';
import { waitFor } from '../reliability/harness/wait-for.js';

const TARGET = '2.0.0';
const HOUR = 3_600_000;
const NOW = Date.parse('2030-06-01T12:00:00Z');

function okOps(): DeviceOps {
  const ok: ChangeResult = { kind: 'ok', code: '2.04' };
  return {
    writePackageUri: async () => ok,
    executeUpdate: async () => ok,
    cancelUpdate: async () => ok,
    pollFirmwareState: async () => undefined,
    readFirmwareVersion: async () => {},
    readErrorCode: async () => {},
  };
}

function depsOf(db: OpenDatabase['db']): ExecutorDeps {
  return {
    db,
    ops: okOps(),
    packageUri: () => ({ ok: true, uri: 'http://127.0.0.1/fw.bin' }),
    clock: () => NOW,
    timeoutsOf: () => DEFAULT_TIMEOUTS,
  };
}

/**
 * Rollout `good` (group dev-*, target 2.0.0, no window, not suspended) and, below it in priority,
 * rollout `broken` of the same group whose firmware names a model Postgres cannot even read (a
 * NUL): planning it fails in the database every pass.
 */
function desiredState(): DesiredState {
  const base = closedWindowDesiredState(TARGET).rollouts.get('r')!;
  const good: ResolvedRollout = { ...base, name: 'good', suspend: false, priority: 1, window: undefined };
  const broken: ResolvedRollout = {
    ...base,
    name: 'broken',
    suspend: false,
    priority: 0,
    window: undefined,
    firmware: { ...base.firmware, name: 'fw-broken', version: '3.0.0', models: ['M\u0000'] },
  };
  return desiredStateOf(broken, good);
}

/** Registered devices on 1.0.0 reporting `fwState`/`fwResult` a minute ago; returns their ids. */
async function seedDevices(
  db: OpenDatabase['db'],
  devices: readonly { endpoint: string; fwState?: number; fwResult?: number; registeredAt?: number }[],
): Promise<Map<string, number>> {
  const rows = await db
    .insertInto('devices')
    .values(
      devices.map((d) => ({
        endpoint: d.endpoint,
        registration_state: 'registered' as const,
        registered_at: new Date(d.registeredAt ?? NOW - HOUR),
        firmware_version: '1.0.0',
        model: 'M',
        info_read_at: new Date(NOW - 60_000),
        fw_state: d.fwState ?? 0,
        fw_result: d.fwResult ?? 0,
        fw_reported_at: new Date(NOW - 60_000),
        updated_at: new Date(NOW),
      })),
    )
    .returning(['id', 'endpoint'])
    .execute();
  return new Map(rows.map((r) => [r.endpoint, r.id]));
}

/** An update of rollout `good` to 2.0.0 in `phase`: its URI written 2 h ago, executed 90 min ago. */
async function seedUpdate(
  db: OpenDatabase['db'],
  deviceId: number,
  endpoint: string,
  phase: 'downloading' | 'downloaded' | 'updating',
) {
  const row = await db
    .insertInto('firmware_updates')
    .values({
      device_id: deviceId,
      endpoint,
      rollout: 'good',
      firmware: 'fw',
      target_version: TARGET,
      attempt: 1,
      phase,
      package_uri: 'http://127.0.0.1/fw.bin',
      phase_changed_at: new Date(NOW - 90 * 60_000),
      uri_written_at: new Date(NOW - 2 * HOUR),
      executed_at: phase === 'updating' ? new Date(NOW - 90 * 60_000) : null,
      deadline_at: new Date(NOW + HOUR),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/**
 * Runs the reconciler until `passes` passes that planned the rollouts went through (each one is
 * awaited, no sleeping); returns those.
 */
async function runPasses(reconciler: Reconciler, passes: number): Promise<PassResult[]> {
  const results: PassResult[] = [];
  await new Promise<void>((resolve, reject) => {
    reconciler.on('pass', (result) => {
      if (result.plans.size > 0) results.push(result);
      if (results.length >= passes) resolve();
      else reconciler.trigger();
    });
    reconciler.on('error', reject);
    reconciler.start();
  });
  await reconciler.stop();
  return results;
}

describe.each(testBackends)('failure isolation in reconcile passes on $name', (backend) => {
  let store: OpenDatabase | undefined;
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
    await store?.close();
    store = undefined;
  });

  it('plans and acts on the other rollouts and updates when one rollout and one update fail, each reported once on its own object', async () => {
    store = await backend.open();
    const db = store.db;
    const ids = await seedDevices(db, [
      { endpoint: 'dev-new-0' },
      { endpoint: 'dev-new-1' },
      // Reports the package downloaded: its update moves on.
      { endpoint: 'dev-dl', fwState: 2 },
      // A row the database refuses to move (a constraint of the installation, as a trigger here).
      { endpoint: 'dev-stuck', fwState: 2 },
    ]);
    const downloaded = await seedUpdate(db, ids.get('dev-dl')!, 'dev-dl', 'downloading');
    const stuck = await seedUpdate(db, ids.get('dev-stuck')!, 'dev-stuck', 'downloading');
    await sql`create function refuse_stuck() returns trigger language plpgsql as $$
      begin raise exception 'refused by a check' using errcode = '23514'; end $$`.execute(db);
    await sql`create trigger refuse_stuck before update on firmware_updates for each row
      when (old.endpoint = 'dev-stuck') execute function refuse_stuck()`.execute(db);

    const failures: string[] = [];
    const desired = desiredState();
    const reconciler = new Reconciler(depsOf(db), () => desired, {
      intervalMs: 60_000,
      coalesceMs: 0,
      pollQuietMs: HOUR,
      onFailure: (scope) => failures.push(scope),
    });
    const passes = await runPasses(reconciler, 3);

    // Every pass went through; `good` started its new devices and moved the downloaded one on.
    expect(reconciler.healthy).toBe(true);
    expect(passes[0]!.plans.has('good')).toBe(true);
    expect(passes[0]!.plans.has('broken')).toBe(false);
    const updates = await db
      .selectFrom('firmware_updates')
      .select(['id', 'endpoint', 'phase', 'rollout'])
      .orderBy('endpoint')
      .execute();
    expect(updates.map((u) => [u.endpoint, u.rollout, u.phase])).toEqual([
      ['dev-dl', 'good', expect.stringMatching(/^(downloaded|updating)$/)],
      ['dev-new-0', 'good', expect.stringMatching(/^(pending|downloading)$/)],
      ['dev-new-1', 'good', expect.stringMatching(/^(pending|downloading)$/)],
      ['dev-stuck', 'good', 'downloading'],
    ]);
    expect(updates.find((u) => Number(u.id) === downloaded)?.phase).not.toBe('downloading');

    // Each failure counted every pass, recorded once (the same message again is not news).
    expect(failures.filter((s) => s === 'rollout')).toHaveLength(3);
    expect(failures.filter((s) => s === 'update').length).toBeGreaterThanOrEqual(1);
    expect(failures).not.toContain('pass');
    const events = await db
      .selectFrom('events')
      .select(['rollout', 'endpoint', 'update_id', 'message', 'details'])
      .where('type', '=', 'ReconcileFailed')
      .orderBy('id')
      .execute();
    expect(events).toEqual([
      {
        rollout: 'broken',
        endpoint: null,
        update_id: null,
        message: expect.stringMatching(/^planning this rollout failed: /),
        details: expect.objectContaining({ scope: 'rollout', sqlState: expect.stringMatching(/^22/) }),
      },
      {
        rollout: 'good',
        endpoint: 'dev-stuck',
        update_id: expect.anything(),
        message: 'acting on this update failed: refused by a check',
        details: { scope: 'update', error: 'refused by a check', sqlState: '23514' },
      },
    ]);
    expect(Number(events[1]!.update_id)).toBe(stuck);
  });

  it('records a persistent failure again only when its message changes or ten minutes passed', async () => {
    store = await backend.open();
    let now = NOW;
    const logged: string[] = [];
    const counted: string[] = [];
    const failures = new ReconcileFailures({
      db: store.db,
      clock: () => now,
      log: (_obj, msg) => logged.push(msg),
      onFailure: (scope) => counted.push(scope),
    });
    const fail = (message: string) =>
      failures.report({ scope: 'rollout', rollout: 'r', error: new Error(message) });
    await fail('boom');
    await fail('boom');
    now += 9 * 60_000;
    await fail('boom');
    now += 60_000;
    await fail('boom');
    await fail('another');
    const events = await store.db
      .selectFrom('events')
      .select('message')
      .where('type', '=', 'ReconcileFailed')
      .orderBy('id')
      .execute();
    expect(events.map((e) => e.message)).toEqual([
      'planning this rollout failed: boom',
      'planning this rollout failed: boom',
      'planning this rollout failed: another',
    ]);
    expect(logged).toHaveLength(3);
    expect(counted).toEqual(['rollout', 'rollout', 'rollout', 'rollout', 'rollout']);
  });

  it('fails an update whose device reports a Result outside 0..11 as an unknown code, and moves the others', async () => {
    store = await backend.open();
    const db = store.db;
    // Migration 0006 and the LwM2M edge keep such codes out of the devices table; the planner must
    // hold even if one gets in (a database older than 0006, a future writer), so lift the CHECK.
    await sql`alter table devices drop constraint devices_fw_result_range`.execute(db);
    // Both restarted after Execute (registered 10 min ago) still on 1.0.0, reporting 12 and -5.
    const restarted = NOW - 10 * 60_000;
    const ids = await seedDevices(db, [
      { endpoint: 'dev-12', fwResult: 12, registeredAt: restarted },
      { endpoint: 'dev-minus5', fwResult: -5, registeredAt: restarted },
      { endpoint: 'dev-dl', fwState: 2 },
    ]);
    for (const endpoint of ['dev-12', 'dev-minus5'])
      await seedUpdate(db, ids.get(endpoint)!, endpoint, 'updating');
    await seedUpdate(db, ids.get('dev-dl')!, 'dev-dl', 'downloading');
    // What a pass sees after a restart too: the values are stored.
    const desired = {
      ...desiredState(),
      rollouts: new Map([['good', desiredState().rollouts.get('good')!]]),
    };
    const failures: string[] = [];
    const reconciler = new Reconciler(depsOf(db), () => desired, {
      intervalMs: 60_000,
      coalesceMs: 0,
      pollQuietMs: HOUR,
      onFailure: (scope) => failures.push(scope),
    });
    await runPasses(reconciler, 2);
    expect(failures).toEqual([]);
    const rows = await db
      .selectFrom('firmware_updates')
      .select(['endpoint', 'phase', 'result', 'failure_reason'])
      .orderBy('endpoint')
      .execute();
    expect(rows).toEqual([
      {
        endpoint: 'dev-12',
        phase: 'failed',
        result: 0,
        failure_reason: 'unknown result code 12; still on 1.0.0',
      },
      {
        endpoint: 'dev-dl',
        phase: expect.stringMatching(/^(downloaded|updating)$/),
        result: 0,
        failure_reason: null,
      },
      {
        endpoint: 'dev-minus5',
        phase: 'failed',
        result: 0,
        failure_reason: 'unknown result code -5; still on 1.0.0',
      },
    ]);
  });

  it('stores a failure carrying a result outside 0..11 with result 0 and the code in its reason', async () => {
    store = await backend.open();
    const db = store.db;
    const ids = await seedDevices(db, [{ endpoint: 'dev-x' }]);
    const id = await seedUpdate(db, ids.get('dev-x')!, 'dev-x', 'updating');
    const [update] = await loadActiveUpdates(db, ALL_ACTIVE);
    const outcome = {
      phase: 'failed',
      kind: 'device-result',
      result: 4242,
      reason: 'vendor failure',
      retryable: false,
      resetDevice: false,
    } as const;
    expect(
      await runSteps(depsOf(db), new TransitionWriter(db), [{ kind: 'finish', update: update!, outcome }]),
    ).toBe(true);
    const row = await db
      .selectFrom('firmware_updates')
      .select(['phase', 'result', 'failure_reason'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({
      phase: 'failed',
      result: 0,
      failure_reason: 'vendor failure (unknown result code 4242)',
    });
  });

  it('fails an update whose device refused Execute with NUL and control characters in its payload, with a readable reason', async () => {
    store = await backend.open();
    const db = store.db;
    const ids = await seedDevices(db, [{ endpoint: 'dev-nul', fwState: 2 }]);
    const id = await seedUpdate(db, ids.get('dev-nul')!, 'dev-nul', 'downloaded');
    const [update] = await loadActiveUpdates(db, ALL_ACTIVE);
    const refused: ChangeResult = { kind: 'error', code: '4.00', message: 'a\0b\r\n\u0007c' };
    const deps = { ...depsOf(db), ops: { ...okOps(), executeUpdate: async () => refused } };
    // Postgres refuses NUL in text and json: the finish failed, and the update stayed `updating`.
    expect(await runSteps(deps, new TransitionWriter(db), [{ kind: 'execute', update: update! }])).toBe(true);
    const row = await db
      .selectFrom('firmware_updates')
      .select(['phase', 'failure_reason'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ phase: 'failed', failure_reason: 'the device refused Execute (4.00 a b c)' });
    const event = await db
      .selectFrom('events')
      .select(['message', 'details'])
      .where('update_id', '=', id)
      .where('type', '=', 'UpdateFailed')
      .executeTakeFirstOrThrow();
    expect(event.message).toBe('failed: the device refused Execute (4.00 a b c) (will retry)');
    expect(event.details).toMatchObject({ reason: 'the device refused Execute (4.00 a b c)' });
  });

  it('reports persistent pass and write failures in /readyz and the metrics', async () => {
    scene = await Scene.create(backend);
    const clock = createTestClock();
    const { controller } = await scene.startRollout({
      rollout: 'sims-2.0.0',
      controller: { clock: clock.now },
    });
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${controller.httpPort}${path}`);
      return { status: res.status, text: await res.text() };
    };
    const metric = async (line: RegExp) => line.exec((await get('/metrics')).text)?.[1];
    await waitFor('a first pass', async () => ((await get('/readyz')).status === 200 ? true : undefined));
    expect(await metric(/^otactl_reconcile_failing (\d+)$/m)).toBe('0');
    expect(await metric(/^otactl_device_writes_failing (\d+)$/m)).toBe('0');

    // Every pass fails: ready for the first 30 s, then not.
    const failed = new Promise((resolve) => controller.reconciler.once('error', resolve));
    await sql`alter table rollouts rename to rollouts_away`.execute(scene.db);
    await failed;
    expect((await get('/readyz')).status).toBe(200);
    clock.advance(31_000);
    const notReady = await get('/readyz');
    expect(notReady.status).toBe(503);
    expect(JSON.parse(notReady.text).reasons).toContain(
      'reconcile passes have been failing for 30 s or more',
    );
    expect(await metric(/^otactl_reconcile_failing (\d+)$/m)).toBe('1');
    expect(Number(await metric(/^otactl_reconcile_errors_total\{scope="pass"\} (\d+)$/m))).toBeGreaterThan(0);
    const recovered = new Promise((resolve) => controller.reconciler.once('pass', resolve));
    await sql`alter table rollouts_away rename to rollouts`.execute(scene.db);
    await recovered;
    expect((await get('/readyz')).status).toBe(200);
    expect(await metric(/^otactl_reconcile_failing (\d+)$/m)).toBe('0');

    // Device writes fail (not their data): ready for 30 s, then not; nothing is quarantined.
    await sql`create function writes_away() returns trigger language plpgsql as $$
      begin raise exception 'database away' using errcode = '08006'; end $$`.execute(scene.db);
    await sql`create trigger writes_away before insert or update on devices
      for each row execute function writes_away()`.execute(scene.db);
    await scene.addFleet({ count: 1 });
    const reasons = await waitFor('/readyz to report failing writes', async () => {
      clock.advance(31_000);
      const res = await get('/readyz');
      return res.status === 503 ? (JSON.parse(res.text).reasons as string[]) : undefined;
    });
    expect(reasons).toContain('device writes have been failing for 30 s or more');
    expect(await metric(/^otactl_device_writes_failing (\d+)$/m)).toBe('1');
    expect(await metric(/^otactl_device_writes_quarantined_total (\d+)$/m)).toBe('0');
    await sql`drop trigger writes_away on devices`.execute(scene.db);
    await waitFor(
      '/readyz to recover',
      async () => ((await get('/readyz')).status === 200 ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    expect(await metric(/^otactl_device_writes_failing (\d+)$/m)).toBe('0');
  }, 120_000);
});
