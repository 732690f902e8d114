import { afterEach, describe, expect, it } from 'vitest';
import type { ChangeResult } from '../../controller/lwm2m/index.js';
import type { Leadership, PlannerRole } from '../../controller/reconcile/index.js';
import { reconcilePass } from '../../controller/reconcile/run/reconcile-pass.js';
import type { DeviceOps } from '../../controller/reconcile/write/device-ops.js';
import { DEFAULT_TIMEOUTS, type ExecutorDeps } from '../../controller/reconcile/write/executor.js';
import { acquireLease, type Fence, readLease } from '../../controller/replicas/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import { desiredStateOf, resolvedRollout } from '../helpers/resolved-rollout.js';
import { waitFor } from '../reliability/harness/wait-for.js';

const NOW = Date.parse('2030-06-01T12:00:00Z');

function deps(db: OpenDatabase['db']): ExecutorDeps {
  const ok: ChangeResult = { kind: 'ok', code: '2.04' };
  const ops: DeviceOps = {
    writePackageUri: async () => ok,
    executeUpdate: async () => ok,
    cancelUpdate: async () => ok,
    pollFirmwareState: async () => undefined,
    readFirmwareVersion: async () => {},
    readErrorCode: async () => {},
  };
  return {
    db,
    ops,
    packageUri: () => ({ ok: true, uri: 'http://127.0.0.1/fw.bin' }),
    clock: () => NOW,
    timeoutsOf: () => DEFAULT_TIMEOUTS,
  };
}

/** A replica's view of its role as a fixed value, recording the fences the database refused. */
function asRole(role: PlannerRole): Leadership & { readonly refused: Fence[] } {
  const refused: Fence[] = [];
  return { role: () => role, lost: (fence) => refused.push(fence), refused };
}

async function seedDevices(db: OpenDatabase['db'], count: number): Promise<void> {
  await db
    .insertInto('devices')
    .values(
      Array.from({ length: count }, (_, i) => ({
        endpoint: `dev-${i}`,
        registration_state: 'registered' as const,
        registered_at: new Date(NOW - 3_600_000),
        firmware_version: '1.0.0',
        model: 'M',
        info_read_at: new Date(NOW - 60_000),
        fw_state: 0,
        fw_result: 0,
        fw_reported_at: new Date(NOW - 60_000),
        updated_at: new Date(NOW),
      })),
    )
    .execute();
}

async function written(db: OpenDatabase['db']) {
  const rollouts = await db.selectFrom('rollouts').select('name').execute();
  const updates = await db.selectFrom('firmware_updates').select('endpoint').execute();
  const events = await db.selectFrom('events').select('type').execute();
  return { rollouts: rollouts.length, updates: updates.length, events: events.length };
}

describe.each(testBackends)('rollout planning under the planner lease on $name', (backend) => {
  let store: OpenDatabase | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('a stale leader plans but writes nothing; a follower writes nothing; the holder writes', async () => {
    store = await backend.open();
    const { db } = store;
    await seedDevices(db, 3);
    const desired = desiredStateOf(resolvedRollout());
    const options = { pollQuietMs: 60_000, concurrency: 4 };

    // Replica a held epoch 1; its lease ran out and b took it over with epoch 2.
    const stale: Fence = {
      lease: 'planner',
      holder: 'a',
      epoch: (await acquireLease(db, 'planner', 'a', 100))!,
    };
    await waitFor(
      'the lease to expire',
      async () => (((await readLease(db, 'planner'))?.remainingMs ?? 1) <= 0 ? true : undefined),
      { intervalMs: 25 },
    );
    const current: Fence = {
      lease: 'planner',
      holder: 'b',
      epoch: (await acquireLease(db, 'planner', 'b', 60_000))!,
    };
    expect(current.epoch).toBe(stale.epoch + 1);

    const a = asRole({ kind: 'leader', fence: stale });
    const staleLeader = await reconcilePass(deps(db), desired, { ...options, leadership: a });
    expect(staleLeader.plans.get('r')?.start).toBeDefined(); // it would have started updates...
    expect(staleLeader.started).toBe(0); // ...and the database refused them
    expect(a.refused).toEqual([stale]);
    expect(await written(db)).toEqual({ rollouts: 0, updates: 0, events: 0 });

    const follower = asRole({ kind: 'follower' });
    const followed = await reconcilePass(deps(db), desired, { ...options, leadership: follower });
    expect(followed.plans.has('r')).toBe(true);
    expect(followed.started).toBe(0);
    expect(follower.refused).toEqual([]);
    expect(await written(db)).toEqual({ rollouts: 0, updates: 0, events: 0 });

    const b = asRole({ kind: 'leader', fence: current });
    const led = await reconcilePass(deps(db), desired, { ...options, leadership: b });
    expect(led.started).toBe(3);
    expect(b.refused).toEqual([]);
    expect(await written(db)).toMatchObject({ rollouts: 1, updates: 3 });
  });
});
