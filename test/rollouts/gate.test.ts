import { describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, createTestClock, Scene, settle, updatesOf } from '../helpers/rollout-fixture.js';
import { useWebhookFixture } from '../helpers/webhook-fixture.js';

describe.each(testBackends)('a step gate (spec.verify.gate) on $name', (backend) => {
  const fixture = useWebhookFixture<Scene>();

  it('holds the next step while the gate refuses, with its reason; starts it once the gate answers 2xx', async () => {
    const receiver = await fixture.receiver();
    receiver.respond = (res) =>
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"reason":"error rate 4% > 1%"}');
    const scene = fixture.own(await Scene.create(backend));
    const clock = createTestClock();
    const { controller } = await scene.startRollout({
      rollout: 'gated',
      spec: `  strategy:
    steps: [{ percent: 50 }, { percent: 100 }]
  verify:
    gate: { url: "${receiver.url}", interval: 1m }
`,
      controller: { clock: clock.now },
    });
    await scene.addFleet({ count: 2 });
    const db = scene.db;
    const rolloutRow = () =>
      db.selectFrom('rollouts').select(['phase', 'paused_reason', 'current_step']).executeTakeFirstOrThrow();

    await afterPassWhen(
      controller,
      async () => (await rolloutRow()).paused_reason?.includes('refused') === true,
    );
    expect(await rolloutRow()).toMatchObject({
      phase: 'Paused',
      current_step: 0,
      paused_reason: expect.stringContaining(
        'step 2 waits for its gate: refused: HTTP 503: error rate 4% > 1%',
      ),
    });
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.body).toMatchObject({
      type: 'otactl.gate',
      rollout: 'gated',
      step: 2,
      steps: 2,
      percent: 100,
      target: { version: '2.0.0' },
      counts: { selected: 2, succeeded: 1, upToDate: 1 },
    });
    // Held: the other device does not start, and the gate is not asked again within the interval.
    await settle(controller, 3);
    expect(await updatesOf(db)).toHaveLength(1);
    expect(receiver.requests).toHaveLength(1);

    receiver.respond = (res) => res.writeHead(200).end('ok');
    clock.advance(60_000);
    controller.reconciler.trigger();
    await afterPassWhen(controller, async () => (await rolloutRow()).phase === 'Completed');
    expect(receiver.requests).toHaveLength(2);
    expect((await updatesOf(db)).map((u) => u.phase)).toEqual(['succeeded', 'succeeded']);
    const events = await db
      .selectFrom('events')
      .select(['type', 'message'])
      .where('rollout', '=', 'gated')
      .where('type', 'in', ['GateRefused', 'GatePassed', 'StepStarted'])
      .orderBy('id')
      .execute();
    expect(events).toEqual([
      { type: 'StepStarted', message: 'step 1 of 2 started (50%)' },
      { type: 'GateRefused', message: 'gate holds step 2: HTTP 503: error rate 4% > 1%' },
      { type: 'GatePassed', message: 'gate let step 2: HTTP 200: ok' },
      { type: 'StepStarted', message: 'step 2 of 2 started (100%)' },
    ]);
  });
});
