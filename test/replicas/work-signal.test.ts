import { once } from 'node:events';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Controller } from '../../controller/app/start-controller.js';
import { beginUpdates } from '../../controller/reconcile/write/update-store.js';
import {
  parseWorkSignal,
  WorkListener,
  type WorkSignal,
  wakesReplica,
} from '../../controller/replicas/index.js';
import { type OpenDatabase, openDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  countWhere,
  createWorkspace,
  rolloutManifests,
  startSteadyFleet,
  startTestController,
  type Workspace,
} from '../helpers/rollout-fixture.js';
import { waitFor } from '../reliability/harness/wait-for.js';

describe('work signals between replicas', () => {
  it('parse the payload the database triggers write', () => {
    expect(parseWorkSignal('admitted|replica-a|replica-b,')).toEqual({
      kind: 'admitted',
      sender: 'replica-a',
      owners: ['replica-b', ''],
    });
    expect(parseWorkSignal('finished|replica-b|')).toEqual({ kind: 'finished', sender: 'replica-b' });
    expect(parseWorkSignal('something else')).toBeUndefined();
  });

  it('wake the owners of admitted devices (or all, for devices of no owner) and the planner for finished ones', () => {
    const b = { id: 'b', sender: 'b', leading: false };
    const a = { id: 'a', sender: 'a', leading: true };
    expect(wakesReplica({ kind: 'admitted', sender: 'a', owners: ['b'] }, b)).toBe(true);
    expect(wakesReplica({ kind: 'admitted', sender: 'a', owners: ['c'] }, b)).toBe(false);
    expect(wakesReplica({ kind: 'admitted', sender: 'a', owners: [''] }, b)).toBe(true);
    expect(wakesReplica({ kind: 'admitted', sender: 'b', owners: ['b'] }, b)).toBe(false);
    expect(wakesReplica({ kind: 'finished', sender: 'b' }, a)).toBe(true);
    expect(wakesReplica({ kind: 'finished', sender: 'b' }, b)).toBe(false);
    expect(wakesReplica({ kind: 'finished', sender: 'a' }, a)).toBe(false);
  });
});

const postgres = testBackends.find((b) => b.name === 'postgres');
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

/** The next notification on the store's work channel. */
async function listen(store: OpenDatabase): Promise<() => Promise<string>> {
  const spec = store.spec as Extract<OpenDatabase['spec'], { kind: 'postgres' }>;
  const client = new pg.Client({ connectionString: spec.url });
  await client.connect();
  cleanup.push(() => client.end());
  await client.query(`listen ${pg.escapeIdentifier(`otactl_work_${spec.schema}`)}`);
  return async () => {
    const [message] = (await once(client, 'notification')) as [pg.Notification];
    return message.payload ?? '';
  };
}

describe.skipIf(postgres === undefined)('work signals on Postgres', () => {
  it('are sent at commit by the statement that admits updates, and by the one that finishes them', async () => {
    const store = await postgres!.open();
    cleanup.push(() => store.close());
    const spec = store.spec as Extract<OpenDatabase['spec'], { kind: 'postgres' }>;
    const writer = await openDatabase(spec, { migrate: false, poolSize: 1, applicationName: 'replica-w' });
    cleanup.push(() => writer.close());
    const next = await listen(store);
    const devices = await store.db
      .insertInto('devices')
      .values([
        { endpoint: 'dev-1', updated_at: new Date(), owner_replica: 'replica-b' },
        { endpoint: 'dev-2', updated_at: new Date(), owner_replica: null },
      ])
      .returning(['id', 'endpoint'])
      .execute();

    const admitted = next();
    const rows = await beginUpdates(
      writer.db,
      devices.map((d) => ({
        device_id: d.id,
        endpoint: d.endpoint,
        rollout: 'r',
        firmware: 'fw-2.0.0',
        target_version: '2.0.0',
        attempt: 1,
        phase_changed_at: new Date(),
      })),
      () => ({ type: 'UpdateStarted', message: 'started' }),
    );
    expect(rows).toHaveLength(2);
    expect(await admitted).toBe('admitted|replica-w|,replica-b');

    const finished = next();
    await sql`update firmware_updates set phase = 'cancelled', finished_at = now() where endpoint = 'dev-1'`.execute(
      writer.db,
    );
    expect(await finished).toBe('finished|replica-w|');
  });

  it('listen again after the connection is lost', async () => {
    const store = await postgres!.open();
    cleanup.push(() => store.close());
    const spec = store.spec as Extract<OpenDatabase['spec'], { kind: 'postgres' }>;
    // Each callback resolves the next waiter of its kind: the test waits on events, not on time.
    const queue = <T>() => {
      const waiting: ((value: T) => void)[] = [];
      return {
        next: () => new Promise<T>((resolve) => waiting.push(resolve)),
        put: (v: T) => waiting.shift()?.(v),
      };
    };
    const signals = queue<WorkSignal>();
    const errors = queue<Error>();
    const listening = queue<void>();
    const listener = new WorkListener({
      url: spec.url,
      ...(spec.schema ? { schema: spec.schema } : {}),
      onSignal: signals.put,
      onError: errors.put,
      onListening: () => listening.put(),
      retryMs: () => 20,
    });
    await listener.start();
    cleanup.push(() => listener.stop());
    expect(listener.listening).toBe(true);
    const channel = `otactl_work_${spec.schema}`;
    const notify = (payload: string) => sql`select pg_notify(${channel}, ${payload})`.execute(store.db);

    const first = signals.next();
    await notify('finished|x|');
    expect(await first).toEqual({ kind: 'finished', sender: 'x' });
    const lost = errors.next();
    const again = listening.next();
    await sql`select pg_terminate_backend(pid) from pg_stat_activity
      where query = ${`listen "${channel}"`}`.execute(store.db);
    expect((await lost).message).toMatch(/ended/);
    await again;
    expect(listener.listening).toBe(true);
    const second = signals.next();
    await notify('admitted|x|y');
    expect(await second).toEqual({ kind: 'admitted', sender: 'x', owners: ['y'] });
  });

  /**
   * Timed passes an hour apart: only the signals can carry the work between the replicas. The
   * leader admits 2 at a time for devices that only the follower can reach; the follower acts when
   * told of the admission, and the leader admits the next two when told of the finished ones.
   */
  it('carry a rollout whose planner and devices are on different replicas, without timed passes', async () => {
    await splitRollout({ listen: true, intervalMs: 3_600_000 });
  });

  /**
   * The fallback behind a pooler that drops notifications: no replica listens, and the timed passes
   * alone carry the same rollout (admission on the leader, device requests on the follower).
   */
  it('are not needed: with no replica listening, timed passes carry the same rollout', async () => {
    await splitRollout({ listen: false, intervalMs: 100 });
  });

  async function splitRollout(options: { readonly listen: boolean; readonly intervalMs: number }) {
    const first = await postgres!.open();
    cleanup.push(() => first.close());
    const spec = first.spec as Extract<OpenDatabase['spec'], { kind: 'postgres' }>;
    const ws: Workspace = await createWorkspace('otactl-work-signal-');
    cleanup.push(() => ws.remove());
    const replica = async (store: OpenDatabase, id: string): Promise<Controller> => {
      const controller = await startTestController(store, ws, {
        replica: {
          id,
          listen: options.listen,
          lease: { durationMs: 60_000, renewDeadlineMs: 40_000, retryMs: 2_000 },
        },
        reconcile: { intervalMs: options.intervalMs, pollQuietMs: 3_600_000 },
      });
      cleanup.push(() => controller.stop());
      await controller.manifestsLoaded;
      return controller;
    };
    const leader = await replica(first, 'replica-a');
    const secondStore = await openDatabase(spec, {
      migrate: false,
      poolSize: 4,
      applicationName: 'replica-b',
    });
    cleanup.push(() => secondStore.close());
    const follower = await replica(secondStore, 'replica-b');
    const fleet = await startSteadyFleet(follower, 6, 'sim-');
    cleanup.push(() => fleet.stop());
    await waitFor('every device read by the follower', async () =>
      (await countWhere(
        first.db,
        'devices',
        sql<boolean>`info_read_at is not null and owner_replica = 'replica-b'`,
      )) === 6
        ? true
        : undefined,
    );

    await ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({
        firmware: await ws.addFirmware('2.0.0'),
        rollout: 'split',
        spec: '  strategy:\n    maxInFlight: 2\n',
      }),
    );
    const succeeded = () => countWhere(first.db, 'firmware_updates', sql<boolean>`phase = 'succeeded'`);
    await afterPassWhen(leader, async () => (await succeeded()) === 6);
    expect(fleet.summary().versions).toEqual({ '2.0.0': 6 });
    const packageUris = await first.db.selectFrom('firmware_updates').select('package_uri').execute();
    expect(packageUris.every((u) => u.package_uri?.includes(`:${follower.httpPort}/`))).toBe(true);
    const listeners = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
      where query = ${`listen "otactl_work_${spec.schema}"`}`.execute(first.db);
    expect(listeners.rows[0]!.n).toBe(options.listen ? 2 : 0);
  }
});
