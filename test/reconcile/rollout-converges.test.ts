import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Controller } from '../../controller/app/start-controller.js';
import { type Fleet, startFleet } from '../../controller/sim/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  createWorkspace,
  firmwareManifest,
  groupManifest,
  rolloutManifest,
  startTestController,
  type Workspace,
} from '../helpers/rollout-fixture.js';

describe.each(testBackends)('a rollout on $name', (backend) => {
  let store: OpenDatabase | undefined;
  let ws: Workspace | undefined;
  let controller: Controller | undefined;
  let fleet: Fleet | undefined;
  afterEach(async () => {
    await fleet?.stop();
    await controller?.stop();
    await store?.close();
    await ws?.cleanup();
  });

  it('brings every device of the group to the declared firmware, one successful update each', async () => {
    store = await backend.open();
    ws = await createWorkspace();
    const target = await ws.addFirmware('2.0.0');
    await ws.writeManifest(
      'fleet.yaml',
      [
        firmwareManifest(target),
        groupManifest('sims', 'sim-*'),
        rolloutManifest({
          name: 'sims-2.0.0',
          group: 'sims',
          firmware: target.name,
          extra: '  strategy:\n    maxInFlight: 50\n',
        }),
      ].join('---\n'),
    );
    controller = await startTestController(store, ws);
    fleet = await startFleet({
      server: `coap://127.0.0.1:${controller.coapPort}`,
      count: 30,
      prefix: 'sim-',
      version: '1.0.0',
      model: 'SIM1',
      protocols: [2],
      staggerMs: 0,
    });
    const db = store.db;
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
