import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, Scene } from '../helpers/rollout-fixture.js';

describe.each(testBackends)('a rollout on $name', (backend) => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('brings every device of the group to the declared firmware, one successful update each', async () => {
    scene = await Scene.create(backend);
    const { controller } = await scene.startRollout({
      rollout: 'sims-2.0.0',
      spec: '  strategy:\n    maxInFlight: 50\n',
    });
    await scene.addFleet({ count: 30 });
    const db = scene.db;
    await afterPassWhen(controller, async () => {
      const row = await db
        .selectFrom('devices')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('firmware_version', '=', '2.0.0')
        .executeTakeFirstOrThrow();
      const active = await db
        .selectFrom('firmware_updates')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('finished_at', 'is', null)
        .executeTakeFirstOrThrow();
      return Number(row.n) === 30 && Number(active.n) === 0;
    });
    // Each update's last move deleted its device command in the same statement.
    expect(await db.selectFrom('device_commands').selectAll().execute()).toEqual([]);

    const perDevice = await sql<{ endpoint: string; succeeded: number; total: number }>`
      select endpoint, count(*) filter (where phase = 'succeeded') as succeeded, count(*) as total
      from firmware_updates group by endpoint`.execute(db);
    expect(perDevice.rows).toHaveLength(30);
    for (const row of perDevice.rows) {
      expect(Number(row.succeeded)).toBe(1);
      expect(Number(row.total)).toBe(1);
    }
    const finished = await db.selectFrom('firmware_updates').selectAll().execute();
    for (const update of finished) {
      expect(update).toMatchObject({
        phase: 'succeeded',
        state: 0,
        result: 1,
        from_version: '1.0.0',
        target_version: '2.0.0',
      });
      expect(update.package_uri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/binaries\/sim1-2\.0\.0\.bin$/);
    }
    const rollout = await db
      .selectFrom('rollouts')
      .selectAll()
      .where('name', '=', 'sims-2.0.0')
      .executeTakeFirstOrThrow();
    await afterPassWhen(controller, async () => {
      const r = await db
        .selectFrom('rollouts')
        .select('phase')
        .where('name', '=', 'sims-2.0.0')
        .executeTakeFirstOrThrow();
      return r.phase === 'Completed';
    });
    expect(rollout.spec).toMatchObject({ targetVersion: '2.0.0' });
    const events = await db
      .selectFrom('events')
      .select(['type'])
      .where('endpoint', '=', 'sim-000001')
      .where('update_id', 'is not', null)
      .orderBy('id')
      .execute();
    expect(events.map((e) => e.type)).toEqual([
      'UpdateStarted',
      'PackageUriWritten',
      'DownloadCompleted',
      'UpdateExecuted',
      'UpdateSucceeded',
    ]);
  });
});
