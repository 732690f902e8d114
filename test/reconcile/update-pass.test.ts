import { describe, expect, it } from 'vitest';
import { QueryCounter } from '../../bench/query-counter.js';
import type { ChangeResult } from '../../controller/lwm2m/index.js';
import type { UpdateIntent } from '../../controller/reconcile/plan/plan-update.js';
import { reconcilePass } from '../../controller/reconcile/run/reconcile-pass.js';
import { reconcileUpdates } from '../../controller/reconcile/run/update-pass.js';
import type { DeviceOps } from '../../controller/reconcile/write/device-ops.js';
import { DEFAULT_TIMEOUTS, type ExecutorDeps } from '../../controller/reconcile/write/executor.js';
import { TransitionWriter } from '../../controller/reconcile/write/transition-writer.js';
import type { ActivePhase, OpenDatabase } from '../../controller/store/index.js';
import { closedWindowDesiredState, seedActiveUpdates } from '../helpers/closed-window-rollout.js';
import { testBackends } from '../helpers/databases.js';

const TARGET = '2.0.0';
const HOUR = 3_600_000;

/** Device requests that always succeed, counted by kind. */
function countingOps(): DeviceOps & { executes: string[]; writes: string[] } {
  const ok: ChangeResult = { kind: 'ok', code: '2.04' };
  const ops = {
    executes: [] as string[],
    writes: [] as string[],
    writePackageUri: async (endpoint: string) => {
      ops.writes.push(endpoint);
      return ok;
    },
    executeUpdate: async (endpoint: string) => {
      ops.executes.push(endpoint);
      return ok;
    },
    cancelUpdate: async () => ok,
    pollFirmwareState: async () => undefined,
    readFirmwareVersion: async () => {},
    readErrorCode: async () => {},
  };
  return ops;
}

function depsOf(db: OpenDatabase['db'], ops: DeviceOps, now: number): ExecutorDeps {
  return {
    db,
    ops,
    packageUri: () => ({ ok: true, uri: 'http://127.0.0.1/fw.bin' }),
    clock: () => now,
    timeoutsOf: () => DEFAULT_TIMEOUTS,
  };
}

/** Devices dev-0..dev-(n-1) with an update of `r` in `phase`, reporting State 2 (Downloaded) a second ago. */
function seed(store: OpenDatabase, count: number, phase: ActivePhase, now: number): Promise<number[]> {
  return seedActiveUpdates(store, { count, target: TARGET, phase, now, fwState: 2, reportedAt: now - 1_000 });
}

async function phases(db: OpenDatabase['db']): Promise<Record<string, string>> {
  const rows = await db
    .selectFrom('firmware_updates')
    .select(['endpoint', 'phase'])
    .orderBy('endpoint')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.endpoint, r.phase]));
}

const outsideWindow: ReadonlyMap<string, UpdateIntent> = new Map([
  ['r', { targetVersion: TARGET, executeAllowed: false }],
]);
const options = { pollQuietMs: HOUR, concurrency: 8 };

describe.each(testBackends)('the active-update half of a pass on $name', (backend) => {
  it('looks only at the updates a change concerns, and at all of them without one', async () => {
    const store = await backend.open();
    try {
      const now = Date.now();
      const ids = await seed(store, 3, 'downloading', now);
      const deps = depsOf(store.db, countingOps(), now);
      const byDevice = await reconcileUpdates(deps, outsideWindow, now, {
        ...options,
        scope: { kind: 'changed', endpoints: ['dev-1'], updateIds: [] },
      });
      expect(byDevice.actions).toBe(1);
      expect(await phases(store.db)).toEqual({
        'dev-0': 'downloading',
        'dev-1': 'downloaded',
        'dev-2': 'downloading',
      });
      // The update moved without a device request: the next pass should look at it again.
      expect(byDevice.followUp).toEqual([ids[1]]);

      const byUpdate = await reconcileUpdates(deps, outsideWindow, now, {
        ...options,
        scope: { kind: 'changed', endpoints: [], updateIds: [ids[2]!] },
      });
      expect(byUpdate.actions).toBe(1);
      expect((await phases(store.db))['dev-2']).toBe('downloaded');

      const everything = await reconcileUpdates(deps, outsideWindow, now, options);
      expect(everything).toMatchObject({ scope: 'all', actions: 1 });
      expect(await phases(store.db)).toEqual({
        'dev-0': 'downloaded',
        'dev-1': 'downloaded',
        'dev-2': 'downloaded',
      });
    } finally {
      await store.close();
    }
  });

  it("records all of a pass's database-only steps in one statement", async () => {
    const store = await backend.open();
    try {
      const now = Date.now();
      await seed(store, 25, 'downloading', now);
      const counter = new QueryCounter();
      const db = store.db.withPlugin(counter);
      const result = await reconcileUpdates(depsOf(db, countingOps(), now), outsideWindow, now, options);
      expect(result.actions).toBe(25);
      // One statement loads the updates, one moves all 25 and records their events.
      expect(counter.count).toBe(2);
      const events = await store.db.selectFrom('events').select('type').execute();
      expect(events.map((e) => e.type)).toEqual(Array(25).fill('DownloadCompleted'));
    } finally {
      await store.close();
    }
  });

  it('sends Execute once when two replicas act on the same update at once', async () => {
    const store = await backend.open({ poolSize: 4 });
    try {
      const now = Date.now();
      await seed(store, 4, 'downloaded', now);
      const ops = countingOps();
      const open: ReadonlyMap<string, UpdateIntent> = new Map([
        ['r', { targetVersion: TARGET, executeAllowed: true }],
      ]);
      // Each replica has its own writer: only the database decides who claims.
      await Promise.all(
        [0, 1].map(() =>
          reconcileUpdates(depsOf(store.db, ops, now), open, now, {
            ...options,
            transitions: new TransitionWriter(store.db),
          }),
        ),
      );
      expect(ops.executes.sort()).toEqual(['dev-0', 'dev-1', 'dev-2', 'dev-3']);
      const executed = await store.db
        .selectFrom('events')
        .select('endpoint')
        .where('type', '=', 'UpdateExecuted')
        .execute();
      expect(executed).toHaveLength(4);
      expect(Object.values(await phases(store.db))).toEqual(Array(4).fill('updating'));
    } finally {
      await store.close();
    }
  });

  it('looks at every update when the intents differ from those the others were planned with', async () => {
    const store = await backend.open();
    try {
      const now = Date.now();
      await seed(store, 3, 'downloading', now);
      await store.db
        .updateTable('devices')
        .set({ firmware_version: '1.0.0', info_read_at: new Date(now - HOUR) })
        .execute();
      const desired = closedWindowDesiredState(TARGET);
      const deps = depsOf(store.db, countingOps(), now);
      const narrowed = { kind: 'changed', endpoints: ['dev-0'], updateIds: [] } as const;
      const same = await reconcilePass(deps, desired, {
        ...options,
        scope: narrowed,
        plannedWith: new Map([['r', { targetVersion: TARGET, executeAllowed: false }]]),
      });
      expect(same).toMatchObject({ scope: 'changed', actions: 1 });
      // Planned earlier with another target: every update is looked at again.
      const changed = await reconcilePass(deps, desired, {
        ...options,
        scope: narrowed,
        plannedWith: new Map([['r', { targetVersion: '1.9.0', executeAllowed: false }]]),
      });
      expect(changed).toMatchObject({ scope: 'all', actions: 2 });
      expect(Object.values(await phases(store.db))).toEqual(Array(3).fill('downloaded'));
    } finally {
      await store.close();
    }
  });
});
