import { describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  canaryOrder,
  createTestClock,
  firmwareManifest,
  groupManifest,
  rolloutManifests,
  rolloutRow,
  Scene,
  settle,
  updatesOf,
} from '../helpers/rollout-fixture.js';
import { notificationManifest, useWebhookFixture } from '../helpers/webhook-fixture.js';

/**
 * Timed passes every 50 ms, not the fixture's 200 ms: the checks that nothing more starts wait
 * for passes (settle), which then come sooner; each still plans the rollout.
 */
const QUICK_PASSES = { intervalMs: 50, pollQuietMs: 5_000 };

describe.each(testBackends)('post-update health checks (spec.verify) on $name', (backend) => {
  const fixture = useWebhookFixture<Scene>();

  /** One device of a rollout with a 10-minute bake, once its update is verifying. */
  async function bakingOne(options: { pollQuietMs?: number; faults?: string } = {}) {
    const scene = fixture.own(await Scene.create(backend));
    const clock = createTestClock();
    const { controller } = await scene.startRollout({
      rollout: 'baked',
      spec: `  verify: { bakeTime: 10m }
`,
      controller: {
        clock: clock.now,
        reconcile: { ...QUICK_PASSES, pollQuietMs: options.pollQuietMs ?? QUICK_PASSES.pollQuietMs },
      },
    });
    const fleet = await scene.addFleet({ count: 1, ...(options.faults ? { faults: options.faults } : {}) });
    await afterPassWhen(controller, async () => (await updatesOf(scene.db))[0]?.phase === 'verifying');
    return { scene, clock, controller, fleet };
  }

  it('bakes healthy devices until bakeTime passed on the controller clock; the next step waits for it', async () => {
    const scene = fixture.own(await Scene.create(backend));
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
      const scene = fixture.own(await Scene.create(backend));
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
  it('judges a mixed first step: healthy devices succeed after bakeTime, faulty ones fail with their reasons, the threshold trips and step 2 holds', async () => {
    const receiver = await fixture.receiver();
    const scene = fixture.own(await Scene.create(backend));
    const clock = createTestClock();
    const target = await scene.ws.addFirmware('2.0.0');
    // The fleet is known before the rollout exists, so its first step is the first 6 in canary order.
    await scene.ws.writeManifest(
      'fleet.yaml',
      [firmwareManifest(target), groupManifest('sims', 'sim-*')].join('---\n'),
    );
    await scene.ws.writeManifest(
      'notify.yaml',
      notificationManifest({
        url: receiver.url,
        spec: '  events: [StepStarted, StepCompleted, RolloutPaused]\n',
      }),
    );
    const controller = await scene.startController({
      clock: clock.now,
      reconcile: QUICK_PASSES,
      notifications: { pollMs: 20 },
    });
    const rebooter = 'sim-000007';
    const erring = 'sim-000003';
    // Its own fleet: a lifetime of 60 s, so that 61 s of silence on the controller clock is too long.
    const vanisher = 'sim-v000001';
    const fleet = await scene.addFleet({
      count: 9,
      faults: `reboot-loop=@${rebooter}:2,error-code=@${erring}:9`,
    });
    const vanishing = await scene.addFleet({
      count: 1,
      prefix: 'sim-v',
      lifetime: 60,
      faults: 'vanish-after-update=1',
    });
    await scene.devicesKnown(10);
    const firstStep = canaryOrder(
      'baked',
      [...fleet.devices, ...vanishing.devices].map((d) => d.endpoint),
    ).slice(0, 6);
    const faulty = [rebooter, erring, vanisher];
    expect(firstStep).toEqual(expect.arrayContaining(faulty));
    const healthy = firstStep.filter((e) => !faulty.includes(e)).sort();

    await scene.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({
        firmware: target,
        rollout: 'baked',
        spec: `  strategy:
    steps: [{ percent: 60 }, { percent: 100 }]
    failureThreshold: { percent: 50, minUpdates: 6 }
  verify: { bakeTime: 10m }
`,
      }),
    );
    const db = scene.db;
    const phases = async () =>
      Object.fromEntries((await updatesOf(db)).map((u) => [u.endpoint, u.phase] as const));
    const reasons = async () =>
      Object.fromEntries(
        (await updatesOf(db)).filter((u) => u.phase === 'failed').map((u) => [u.endpoint, u.failure_reason]),
      );
    // Rebooting and erring fail on wall time; the healthy ones bake on.
    await afterPassWhen(controller, async () => {
      const p = await phases();
      return p[rebooter] === 'failed' && p[erring] === 'failed' && healthy.every((e) => p[e] === 'verifying');
    });
    // 61 s of silence on the controller clock: the vanished device fails; 3 of 3 finished failed
    // is not yet 6 finished, so the threshold waits for the healthy ones' bake.
    clock.advance(61_000);
    controller.reconciler.trigger();
    await afterPassWhen(controller, async () => (await phases())[vanisher] === 'failed');
    await settle(controller, 3);
    expect(await reasons()).toEqual({
      [rebooter]: expect.stringMatching(/^rebooted [12] times? during bake$/),
      [erring]: 'error code 3/0/11 = 9 during bake',
      [vanisher]: 'not seen for 60 s during bake',
    });
    const p = await phases();
    expect(healthy.map((e) => p[e])).toEqual(['verifying', 'verifying', 'verifying']);
    expect(await rolloutRow(db, 'baked')).toMatchObject({ phase: 'Progressing', current_step: 0 });

    // bakeTime on the controller clock: the healthy ones succeed, 3 of 6 failed trips the threshold.
    clock.advance(10 * 60_000);
    controller.reconciler.trigger();
    await afterPassWhen(controller, async () => (await rolloutRow(db, 'baked'))?.phase === 'Paused');
    const after = await phases();
    expect(Object.keys(after).sort()).toEqual([...firstStep].sort());
    expect(healthy.map((e) => after[e])).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(faulty.map((e) => after[e])).toEqual(['failed', 'failed', 'failed']);
    const row = await rolloutRow(db, 'baked');
    expect(row).toMatchObject({ current_step: 0, counts: { succeeded: 3, failed: 3, inFlight: 0 } });
    expect(row!.paused_reason).toMatch(/^failure threshold: 3 of 6 failed \(>= 50%\)/);
    expect(row!.paused_reason).toContain('error code 3/0/11 = 9 during bake');

    // Held: long after, no device of step 2 starts, and step 2 never counts as started.
    clock.advance(20 * 60_000);
    await settle(controller, 3);
    expect(Object.keys(await phases())).toHaveLength(6);
    const types = await db
      .selectFrom('events')
      .select('type')
      .where('rollout', '=', 'baked')
      .where('type', 'in', ['StepStarted', 'StepCompleted', 'RolloutPaused'])
      .orderBy('id')
      .execute();
    expect(types.map((e) => e.type)).toEqual(['StepStarted', 'StepCompleted', 'RolloutPaused']);
    // People hear of it: step 1's start and end, then the threshold, in order.
    await receiver.received(3);
    expect(receiver.requests.map((r) => r.headers['x-otactl-event-type'])).toEqual([
      'StepStarted',
      'StepCompleted',
      'RolloutPaused',
    ]);
    expect(receiver.requests[2]!.body).toMatchObject({
      type: 'RolloutPaused',
      rollout: 'baked',
      message: expect.stringContaining('failure threshold reached: 3 of 6 finished updates failed'),
      status: { phase: 'Paused', step: 1, steps: 2, counts: { failed: 3, succeeded: 3 } },
    });
  });

  it('reads 3/0/11 through the bake: a device that sets an error code minutes into it fails with it', async () => {
    const { scene, clock, controller, fleet } = await bakingOne();
    const db = scene.db;
    const bakeSince = (await updatesOf(db))[0]!.phase_changed_at.getTime();
    const errorCode = () =>
      db.selectFrom('devices').select(['error_code', 'error_code_read_at']).executeTakeFirstOrThrow();

    // Two minutes into the bake 3/0/11 is read again (pollQuietMs after the last read): still 0.
    clock.advance(2 * 60_000);
    controller.reconciler.trigger();
    await afterPassWhen(
      controller,
      async () => ((await errorCode()).error_code_read_at?.getTime() ?? 0) >= bakeSince + 2 * 60_000,
    );
    expect(await errorCode()).toMatchObject({ error_code: 0 });
    expect((await updatesOf(db))[0]).toMatchObject({ phase: 'verifying' });

    // The firmware finds trouble later: the next read during the bake fails the update with it.
    fleet.devices[0]!.setErrorCode(7);
    clock.advance(QUICK_PASSES.pollQuietMs);
    controller.reconciler.trigger();
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'failed');
    const [failed] = await updatesOf(db);
    expect(failed).toMatchObject({
      failure_reason: 'error code 3/0/11 = 7 during bake',
      retryable: false,
      bake_until: null,
    });
    expect(failed!.finished_at!.getTime()).toBeLessThan(bakeSince + 10 * 60_000);
    expect(await errorCode()).toMatchObject({ error_code: 7 });
  });

  /** The device's 3/0/11 as stored, and whether this registration follows it. */
  async function errorCodeRow(db: Scene['db']) {
    const row = await db
      .selectFrom('devices')
      .select(['error_code', 'error_code_read_at', 'error_code_followed_in', 'registration_id'])
      .executeTakeFirstOrThrow();
    return { ...row, followed: row.error_code_followed_in === row.registration_id };
  }

  it('observes 3/0/11 through the bake: an error code set minutes into it fails the update at once, though no read is due', async () => {
    // pollQuietMs of an hour: no read of 3/0/11 comes due in a 10-minute bake; only its notification can tell.
    const { scene, clock, controller, fleet } = await bakingOne({ pollQuietMs: 3_600_000 });
    const db = scene.db;
    const [baking] = await updatesOf(db);
    await afterPassWhen(controller, async () => (await errorCodeRow(db)).followed);
    expect(await errorCodeRow(db)).toMatchObject({ error_code: 0 });

    clock.advance(3 * 60_000);
    fleet.devices[0]!.setErrorCode(6);
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'failed');
    const [failed] = await updatesOf(db);
    expect(failed).toMatchObject({ failure_reason: 'error code 3/0/11 = 6 during bake', retryable: false });
    expect(failed!.finished_at!.getTime()).toBeLessThan(baking!.bake_until!.getTime());
    const row = await errorCodeRow(db);
    expect(row.error_code).toBe(6);
    expect(row.error_code_read_at!.getTime()).toBeGreaterThanOrEqual(
      baking!.phase_changed_at.getTime() + 3 * 60_000,
    );
  });

  it('reads 3/0/11 through the bake of a device that refuses to be observed on it', async () => {
    const { scene, clock, controller, fleet } = await bakingOne({ faults: 'no-error-code-observe=1' });
    const db = scene.db;
    // Refused: read instead, and followed by reads from then on (the planner does not ask again).
    await afterPassWhen(controller, async () => (await errorCodeRow(db)).followed);
    expect(await errorCodeRow(db)).toMatchObject({ error_code: 0 });
    expect(controller.lwm2m.observations.has(fleet.devices[0]!.endpoint, '/3/0/11')).toBe(false);

    fleet.devices[0]!.setErrorCode(7);
    clock.advance(2 * 60_000);
    controller.reconciler.trigger();
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'failed');
    expect((await updatesOf(db))[0]).toMatchObject({ failure_reason: 'error code 3/0/11 = 7 during bake' });
  });

  it('bakes on through a controller restart from the deadline in the database, not from the restart', async () => {
    const { scene, clock } = await bakingOne();
    const db = scene.db;
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
