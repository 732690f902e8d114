import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { DesiredState } from '../../controller/manifests/index.js';
import type { PassResult } from '../../controller/reconcile/run/reconcile-pass.js';
import { Reconciler } from '../../controller/reconcile/run/reconciler.js';
import { DEFAULT_TIMEOUTS, type ExecutorDeps } from '../../controller/reconcile/write/executor.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { closedWindowDesiredState, seedActiveUpdates } from '../helpers/closed-window-rollout.js';
import { testBackends } from '../helpers/databases.js';
import { insertUpdateRow } from '../helpers/update-rows.js';

const TARGET = '2.0.0';
const HOUR = 3_600_000;

/** dev-0..dev-(n-1), each downloading rollout `r` and reporting State 1 (Downloading). */
async function seed(store: OpenDatabase, count: number, now: number): Promise<void> {
  await seedActiveUpdates(store, {
    count,
    target: TARGET,
    phase: 'downloading',
    now,
    fwState: 1,
    reportedAt: now - 50_000,
  });
}

/** The devices report Downloaded (what device sync writes for a 5/0/3 notification). */
async function reportDownloaded(store: OpenDatabase, endpoints: string[], at: number): Promise<void> {
  await store.db
    .updateTable('devices')
    .set({ fw_state: 2, fw_reported_at: new Date(at) })
    .where('endpoint', 'in', endpoints)
    .execute();
}

/** Ops that answer every request at once: the tests here are about which updates a pass plans. */
function depsAt(store: OpenDatabase, clock: () => number): ExecutorDeps {
  return {
    db: store.db,
    ops: {
      writePackageUri: async () => ({ kind: 'ok', code: '2.04' }),
      executeUpdate: async () => ({ kind: 'ok', code: '2.04' }),
      cancelUpdate: async () => ({ kind: 'ok', code: '2.04' }),
      pollFirmwareState: async () => undefined,
      readFirmwareVersion: async () => {},
      readErrorCode: async () => {},
    },
    packageUri: () => ({ ok: true, uri: 'http://127.0.0.1/fw.bin' }),
    clock,
    timeoutsOf: () => DEFAULT_TIMEOUTS,
  };
}

/** How many updates a pass planned (each gets a recheck time, or none). */
function planned(pass: PassResult): number {
  return pass.rechecks.size;
}

async function phases(store: OpenDatabase): Promise<string[]> {
  const rows = await store.db.selectFrom('firmware_updates').select('phase').orderBy('endpoint').execute();
  return rows.map((r) => r.phase);
}

describe.each(testBackends)('what a reconciler pass looks at, on $name', (backend) => {
  it('looks at the update of a device that reported something, and at all of them on a plain trigger', async () => {
    const store = await backend.open();
    const now = Date.now();
    const deps = depsAt(store, () => now);
    // Timed passes every minute only: every pass here is one a trigger asked for.
    const reconciler = new Reconciler(deps, () => desired, { intervalMs: 60_000, pollQuietMs: HOUR });
    const nextPass = () => new Promise<PassResult>((resolve) => reconciler.once('pass', resolve));
    try {
      await seed(store, 3, now);
      let pass = nextPass();
      reconciler.start();
      expect(await pass).toMatchObject({ scope: 'all', actions: 0 });

      // Two devices report Downloaded, but only dev-1's change reaches the reconciler.
      await reportDownloaded(store, ['dev-1', 'dev-2'], now - 1_000);
      pass = nextPass();
      reconciler.trigger({ endpoint: 'dev-1' });
      expect(await pass).toMatchObject({ scope: 'changed', actions: 1 });
      expect(await phases(store)).toEqual(['downloading', 'downloaded', 'downloading']);

      // The timer's kind of trigger looks at every active update.
      pass = nextPass();
      reconciler.trigger();
      expect(await pass).toMatchObject({ scope: 'all' });
      expect(await phases(store)).toEqual(['downloading', 'downloaded', 'downloaded']);
    } finally {
      await reconciler.stop();
      await store.close();
    }
  });

  it('a timed pass looks at the updates whose recheck time has come, and at all of them once per sweep', async () => {
    const store = await backend.open();
    const start = Date.now();
    let now = start;
    // Timed passes as often as the test can follow; the clock they read moves only when told to.
    const reconciler = new Reconciler(
      depsAt(store, () => now),
      () => desired,
      {
        intervalMs: 20,
        sweepMs: HOUR / 2,
        pollQuietMs: HOUR,
      },
    );
    const passes: PassResult[] = [];
    reconciler.on('pass', (p) => passes.push(p));
    const passWhere = (test: (p: PassResult) => boolean) =>
      new Promise<PassResult>((resolve) => {
        const found = passes.find(test);
        if (found) return resolve(found);
        const check = (p: PassResult) => {
          if (!test(p)) return;
          reconciler.off('pass', check);
          resolve(p);
        };
        reconciler.on('pass', check);
      });
    try {
      const [first] = await seedActiveUpdates(store, {
        count: 3,
        target: TARGET,
        phase: 'downloading',
        now: start,
        fwState: 1,
        reportedAt: start - 50_000,
      });
      // Started a minute ago; dev-0's download times out in 10 s, the others' in an hour.
      await sql`update firmware_updates set created_at = ${new Date(start - 60_000)}`.execute(store.db);
      await store.db
        .updateTable('firmware_updates')
        .set({ deadline_at: new Date(start + 10_000) })
        .where('id', '=', first!)
        .execute();
      reconciler.start();
      const sweep = await passWhere((p) => p.scope === 'all');
      expect(planned(sweep)).toBe(3);
      // Timed passes meanwhile plan nothing: no update's time has come.
      await passWhere((p) => p !== sweep && p.scope === 'changed');
      expect(passes.filter((p) => p !== sweep).every((p) => planned(p) === 0)).toBe(true);

      passes.length = 0;
      now = start + 10_000;
      const timedOut = await passWhere((p) => p.actions > 0);
      expect(timedOut).toMatchObject({ scope: 'changed', actions: 1 });
      expect(planned(timedOut)).toBe(1);
      expect(passes.every((p) => p.scope === 'changed')).toBe(true);
      expect(await phases(store)).toEqual(['failed', 'downloading', 'downloading']);

      // An update another replica's planner admitted (no trigger reaches this one): the next
      // timed pass finds it and writes its Package URI.
      passes.length = 0;
      await store.db
        .insertInto('devices')
        .values({
          endpoint: 'dev-3',
          registration_state: 'registered',
          registered_at: new Date(start - HOUR),
          firmware_version: '1.0.0',
          info_read_at: new Date(start - HOUR),
          fw_state: 0,
          fw_result: 0,
          fw_reported_at: new Date(start - HOUR),
          updated_at: new Date(now),
        })
        .execute();
      const admittedId = await insertUpdateRow(store.db, 'dev-3', {
        target_version: TARGET,
        created_at: new Date(now),
        phase_changed_at: new Date(now),
        deadline_at: new Date(now + HOUR),
      });
      const admitted = await passWhere((p) => p.actions > 0);
      expect(admitted).toMatchObject({ scope: 'changed', actions: 1 });
      expect(planned(admitted)).toBe(1);
      // Its request's settling asks for a pass that looks at it again.
      await passWhere((p) => p !== admitted && p.rechecks.has(admittedId));
      expect(await phases(store)).toEqual(['failed', 'downloading', 'downloading', 'downloading']);

      // Once a sweep's time has passed, a timed pass looks at every active update again.
      now = start + HOUR / 2;
      const again = await passWhere((p) => p.scope === 'all');
      expect(planned(again)).toBe(3);
    } finally {
      await reconciler.stop();
      await store.close();
    }
  });
});

const desired: DesiredState = closedWindowDesiredState(TARGET);
