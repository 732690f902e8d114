import { afterEach, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, createTestClock, Scene, settle, updatesOf } from '../helpers/rollout-fixture.js';

/**
 * Timed passes every 50 ms, not the fixture's 200 ms: the checks that nothing more starts wait
 * for passes (settle), which then come sooner; each still plans the rollout.
 */
const QUICK_PASSES = { intervalMs: 50, pollQuietMs: 5_000 };

describe.each(testBackends)('post-update health checks (spec.verify) on $name', (backend) => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('bakes healthy devices until bakeTime passed on the controller clock; the next step waits for it', async () => {
    scene = await Scene.create(backend);
    const clock = createTestClock();
    const { controller } = await scene.startRollout({
      rollout: 'baked',
      spec: `  strategy:
    steps: [{ percent: 50 }, { percent: 100 }]
  verify: { bakeTime: 10m }
`,
      controller: { clock: clock.now, reconcile: QUICK_PASSES },
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

  /** Each fault of the simulator that a bake must catch, what (if anything) the test does, and the reason. */
  const FAULTS = [
    { fault: 'reboot-loop', lifetime: 86_400, advanceMs: 0, reason: /^rebooted [1-3] times? during bake$/ },
    { fault: 'error-code', lifetime: 86_400, advanceMs: 0, reason: /^error code 3\/0\/11 = 5 during bake$/ },
    {
      fault: 'vanish-after-update',
      lifetime: 60,
      advanceMs: 61_000,
      reason: /^not seen for 60 s during bake$/,
    },
  ] as const;

  for (const { fault, lifetime, advanceMs, reason } of FAULTS) {
    it(`fails the bake of a ${fault} device with its reason, trips the threshold and holds the next step`, async () => {
      scene = await Scene.create(backend);
      const clock = createTestClock();
      const { controller } = await scene.startRollout({
        rollout: 'baked',
        spec: `  strategy:
    steps: [{ percent: 25 }, { percent: 100 }]
    failureThreshold: { percent: 50, minUpdates: 1 }
  verify: { bakeTime: 10m }
`,
        controller: { clock: clock.now, reconcile: QUICK_PASSES },
      });
      // Every device has the fault: whichever the first step starts (members join as they are read).
      await scene.addFleet({ count: 4, lifetime, faults: `${fault}=1` });
      const db = scene.db;
      await afterPassWhen(controller, async () => {
        const u = await updatesOf(db);
        return u[0]?.phase === 'verifying' || u[0]?.phase === 'failed';
      });
      if (advanceMs > 0) {
        clock.advance(advanceMs);
        controller.reconciler.trigger();
      }
      await afterPassWhen(controller, async () => {
        const r = await db.selectFrom('rollouts').select('phase').executeTakeFirstOrThrow();
        return r.phase === 'Paused';
      });
      const updates = await updatesOf(db);
      expect(updates).toHaveLength(1);
      expect(updates[0]).toMatchObject({
        phase: 'failed',
        retryable: false,
        bake_until: null,
      });
      expect(updates[0]!.failure_reason).toMatch(reason);
      const row = await db
        .selectFrom('rollouts')
        .select(['phase', 'paused_reason', 'counts'])
        .executeTakeFirstOrThrow();
      expect(row.paused_reason).toContain('failure threshold');
      expect(row.paused_reason).toContain('during bake');
      expect(row.counts).toMatchObject({ failed: 1, verifying: 0, inFlight: 0 });
      // Held: past any bake, no other device starts.
      clock.advance(20 * 60_000);
      await settle(controller, 3);
      expect(await updatesOf(db)).toHaveLength(1);
    });
  }
  it('bakes on through a controller restart from the deadline in the database, not from the restart', async () => {
    scene = await Scene.create(backend);
    const clock = createTestClock();
    const { controller } = await scene.startRollout({
      rollout: 'baked',
      spec: `  verify: { bakeTime: 10m }
`,
      controller: { clock: clock.now, reconcile: QUICK_PASSES },
    });
    await scene.addFleet({ count: 1 });
    const db = scene.db;
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'verifying');
    const [baking] = await updatesOf(db);
    const deadline = baking!.bake_until!.getTime();

    clock.advance(6 * 60_000);
    const restarted = await scene.restartController();
    await settle(restarted, 2);
    // Restarted 6 minutes into the bake: still baking to the stored deadline, not 10 minutes from now.
    expect(await updatesOf(db)).toEqual([expect.objectContaining({ phase: 'verifying', finished_at: null })]);
    expect((await updatesOf(db))[0]!.bake_until!.getTime()).toBe(deadline);

    clock.advance(4 * 60_000);
    restarted.reconciler.trigger();
    await afterPassWhen(restarted, async () => (await updatesOf(db))[0]?.phase === 'succeeded');
    expect((await updatesOf(db)).map((u) => u.attempt)).toEqual([1]);
  });
});
