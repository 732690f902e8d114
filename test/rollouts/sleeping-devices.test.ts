import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../controller/sim/index.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  createTestClock,
  rolloutManifests,
  Scene,
  updatesOf,
} from '../helpers/rollout-fixture.js';

const pglite = testBackends[0]!;

/**
 * The reconciler's device requests run in a work queue of `concurrency` slots. A Package URI
 * write to a sleeping queue-mode device waits in the device's own queue until its next Update
 * (hours on NB-IoT): it must not hold one of those slots meanwhile, or as many sleeping devices
 * as slots stall the rollout of every device that is awake.
 */
describe('a rollout over sleeping queue-mode devices', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('writes to awake devices while the writes to sleeping ones wait, and to those when they wake', async () => {
    scene = await Scene.create(pglite);
    const clock = createTestClock();
    const controller = await scene.startController({
      clock: clock.now,
      reconcile: { intervalMs: 200, pollQuietMs: 5_000, concurrency: 2 },
    });
    // As many sleepers as slots, on a clock of their own: awake for 10 s after each Register or
    // Update, the next Update due at 800 s (their registrations outlast the test).
    const deviceClock = new ManualClock();
    const sleepers = await scene.addFleet({
      count: 2,
      prefix: 'sim-sleeper-',
      clock: deviceClock,
      lifetime: 1000,
      faults: 'queue-mode=1:10',
    });
    await scene.devicesKnown(2);
    // Past their awake window by both clocks: the server holds what is asked of them.
    deviceClock.advance(10_000);
    clock.advance(94_000);
    const target = await scene.ws.addFirmware('2.0.0');
    await scene.ws.writeManifest('fleet.yaml', rolloutManifests({ firmware: target, rollout: 'sleepers' }));
    const queued = (endpoint: string) => controller.lwm2m.queuedRequests(endpoint);
    await afterPassWhen(controller, () => sleepers.devices.every((d) => queued(d.endpoint) === 1));

    // A device that is awake joins the rollout: read, written, executed, read again, updated.
    const awake = await scene.addFleet({ count: 1, prefix: 'sim-awake-' });
    const db = scene.db;
    await afterPassWhen(
      controller,
      async () => (await updatesOf(db, awake.devices[0]!.endpoint))[0]?.phase === 'succeeded',
    );
    expect(awake.devices[0]!.packageUriWrites).toBe(1);
    expect(awake.devices[0]!.firmwareVersion).toBe('2.0.0');
    for (const d of sleepers.devices) {
      expect(d.packageUriWrites).toBe(0);
      expect(queued(d.endpoint)).toBe(1);
    }

    // Their Update wakes them: the writes that waited are sent, and their updates go on.
    deviceClock.advance(790_000);
    await afterPassWhen(controller, async () => {
      const updates = await Promise.all(sleepers.devices.map((d) => updatesOf(db, d.endpoint)));
      return updates.every((u) => u[0]?.phase === 'succeeded');
    });
    for (const d of sleepers.devices) {
      expect(d.packageUriWrites).toBe(1);
      expect(d.firmwareVersion).toBe('2.0.0');
    }
  });
});
