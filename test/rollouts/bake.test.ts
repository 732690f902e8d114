import { afterEach, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, createTestClock, Scene, settle, updatesOf } from '../helpers/rollout-fixture.js';

const pglite = testBackends[0]!;

describe('post-update health checks (spec.verify)', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('bakes healthy devices until bakeTime passed on the controller clock; the next step waits for it', async () => {
    scene = await Scene.create(pglite);
    const clock = createTestClock();
    const { controller } = await scene.startRollout({
      rollout: 'baked',
      spec: `  strategy:
    steps: [{ percent: 50 }, { percent: 100 }]
  verify: { bakeTime: 10m }
`,
      controller: { clock: clock.now },
    });
    await scene.addFleet({ count: 2 });
    const db = scene.db;
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'verifying');
    const [first] = await updatesOf(db);
    expect(first).toMatchObject({ phase: 'verifying', finished_at: null });
    expect(first!.bake_until!.getTime() - first!.phase_changed_at.getTime()).toBe(600_000);
    // The first step is not done while its device bakes: the second device does not start.
    await settle(controller, 3);
    expect((await updatesOf(db)).map((u) => u.phase)).toEqual(['verifying']);
    const row = await db.selectFrom('rollouts').select(['counts', 'current_step']).executeTakeFirstOrThrow();
    expect(row.counts).toMatchObject({ verifying: 1, inFlight: 1, succeeded: 0 });

    clock.advance(10 * 60_000);
    controller.reconciler.trigger();
    await afterPassWhen(controller, async () => {
      const updates = await updatesOf(db);
      return updates.length === 2 && updates.every((u) => u.phase === 'verifying' || u.phase === 'succeeded');
    });
    expect((await updatesOf(db)).map((u) => u.phase)).toEqual(['succeeded', 'verifying']);
    const events = await db
      .selectFrom('events')
      .select('type')
      .where('endpoint', '=', first!.endpoint)
      .where('type', 'in', ['UpdateVerifying', 'UpdateSucceeded'])
      .orderBy('id')
      .execute();
    expect(events.map((e) => e.type)).toEqual(['UpdateVerifying', 'UpdateSucceeded']);

    clock.advance(10 * 60_000);
    controller.reconciler.trigger();
    await afterPassWhen(controller, async () => {
      const r = await db.selectFrom('rollouts').select('phase').executeTakeFirstOrThrow();
      return r.phase === 'Completed';
    });
    expect((await updatesOf(db)).map((u) => [u.phase, u.bake_until])).toEqual([
      ['succeeded', null],
      ['succeeded', null],
    ]);
  });
});
