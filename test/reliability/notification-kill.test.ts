import { describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from '../helpers/databases.js';
import { notificationManifest, useWebhookFixture } from '../helpers/webhook-fixture.js';
import { type ProcessDatabase, pgliteProcessDatabase, postgresProcessDatabase } from './harness/databases.js';
import { failOnCrash, ProcessScene } from './harness/process-scene.js';
import { isComplete, rolloutStatus } from './harness/rollout-status.js';
import { waitFor } from './harness/wait-for.js';

const DEVICES = 8;

// One backend (Postgres when there is one): what is proven is the cursor surviving the kill,
// which both backends store alike; notifications/delivery.test.ts covers both in process.
const backends: { name: string; create: () => Promise<ProcessDatabase> }[] = TEST_DATABASE_URL
  ? [{ name: 'postgres', create: postgresProcessDatabase }]
  : [{ name: 'pglite', create: pgliteProcessDatabase }];

describe.each(backends)('notifications through a SIGKILL of otactl run on $name', (backend) => {
  const fixture = useWebhookFixture<ProcessScene>();

  it('delivers every event of the rollout, in order, at least once, across a kill mid-rollout', async () => {
    const receiver = await fixture.receiver();
    const world = fixture.own(
      await ProcessScene.create({
        db: await backend.create(),
        rollout: {
          prefix: 'nk-',
          version: '2.0.0',
          maxInFlight: 2,
          strategyExtra: '    steps: [{ percent: 25 }, { percent: 50 }, { percent: 100 }]',
        },
      }),
    );
    const { rollout } = world.rollout;
    await world.ws.writeManifest(
      'notify.yaml',
      notificationManifest({
        url: receiver.url,
        spec: '  events: [StepStarted, StepCompleted, RolloutCompleted]\n',
      }),
    );
    let controller = await world.startController();
    await world.addFleet({ count: DEVICES, prefix: 'nk-' });
    // Killed once the first step's completion was delivered: later events are still to come.
    await Promise.race([
      receiver.receivedWhen(() =>
        receiver.requests.some((r) => r.headers['x-otactl-event-type'] === 'StepCompleted'),
      ),
      failOnCrash(controller),
    ]);
    await controller.kill('SIGKILL');
    controller = await world.startController();
    await Promise.race([
      waitFor('the rollout to complete', async () =>
        isComplete(await rolloutStatus(controller, rollout), DEVICES) ? true : undefined,
      ),
      failOnCrash(controller),
    ]);
    await Promise.race([
      receiver.receivedWhen(() =>
        receiver.requests.some((r) => r.headers['x-otactl-event-type'] === 'RolloutCompleted'),
      ),
      failOnCrash(controller),
    ]);

    const events = (await (await controller.get(`/api/v1/events?rollout=${rollout}&limit=1000`)).json()) as {
      events: { id: number; type: string }[];
    };
    const wanted = events.events
      .filter((e) => ['StepStarted', 'StepCompleted', 'RolloutCompleted'].includes(e.type))
      .map((e) => `otactl-event-${e.id}`);
    expect(wanted.length).toBeGreaterThanOrEqual(5);
    const delivered = receiver.requests.map((r) => String(r.headers['x-otactl-event-id']));
    // A delivery the kill cut off before its record is sent again: a repeat of the one before.
    const withoutRepeats = delivered.filter((id, i) => id !== delivered[i - 1]);
    expect(withoutRepeats).toEqual(wanted);
  });
});
