import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEVICE_INFO_PATHS } from '../../controller/devices/device-info.js';
import { ManualClock } from '../../controller/sim/index.js';
import { testBackends } from '../helpers/databases.js';
import { RawDevice } from '../lwm2m/support/raw-device.js';
import {
  deviceRow,
  hasResult,
  isInfo,
  registerAndInterrogate,
  type SyncEnv,
  startEnv,
  uniqueEndpoint,
} from './helpers.js';

/**
 * Requested reads share device sync's read slots with every interrogation. A read of a sleeping
 * queue-mode device waits in the device's own queue until its next Update (hours on NB-IoT): it
 * must not hold one of those slots meanwhile, or as many sleeping devices as slots stall every
 * read of the devices that are awake.
 */
describe.each(testBackends)('reads of sleeping queue-mode devices ($name)', (backend) => {
  let env: SyncEnv;
  beforeEach(async () => {
    env = await startEnv(backend, { lanes: { maxConcurrentReads: 2 } });
  });
  afterEach(async () => {
    await env.close();
  });

  it('do not hold a read slot while they wait, and are sent when the device wakes', async () => {
    // Their own clock: awake for 10 s after each Register/Update, the next Update due at 80 s.
    const deviceClock = new ManualClock();
    const sleepers = [0, 1].map(() =>
      env.device({ clock: deviceClock, lifetime: 100, faults: new Map([['queue-mode', 10]]) }),
    );
    const awake = env.device();
    for (const device of [...sleepers, awake]) await registerAndInterrogate(env, device);
    // Past their awake window by both clocks: the server holds what is asked of them.
    deviceClock.advance(10_000);
    env.clock.now += 94_000;

    const held = sleepers.map((s) => env.sync.readFirmwareState(s.endpoint));
    // As many sleeping devices as read slots: the awake device is still read, at once.
    expect(await env.sync.readFirmwareState(awake.endpoint)).toMatchObject({ kind: 'ok', state: 0 });
    expect(await env.sync.readFirmwareVersion(awake.endpoint)).toMatchObject({
      kind: 'ok',
      firmwareVersion: '1.0.0',
    });
    for (const s of sleepers) expect(env.server.queuedRequests(s.endpoint)).toBe(1);

    // Their Update wakes them: what waited is sent, and answered.
    deviceClock.advance(70_000);
    for (const read of await Promise.all(held)) expect(read).toMatchObject({ kind: 'ok', state: 0 });
    for (const s of sleepers) expect(env.server.queuedRequests(s.endpoint)).toBe(0);
    expect(env.sync.stats().interrogations.waiting).toBe(0);
  });
});

/**
 * Interrogations share the same read slots. One queued during a registration storm may start only
 * after a queue-mode device's listening window has passed: it must not wait for the device's next
 * Update (hours on NB-IoT) in a read slot, or as many such devices as slots stop every read and
 * interrogation of the devices that are awake.
 */
describe.each(testBackends)(
  'interrogations of queue-mode devices asleep by their turn ($name)',
  (backend) => {
    let env: SyncEnv;
    let blocker: RawDevice;
    beforeEach(async () => {
      // One read slot; probes answered by hand, so no probe deadline runs out meanwhile.
      env = await startEnv(backend, { lanes: { maxConcurrentReads: 1, probeTimeoutMs: 60_000 } });
      blocker = await RawDevice.open(env.server.address().port);
    });
    afterEach(async () => {
      await blocker.close();
      await env.close();
    });

    it('end at once, hold no slot, and run again when the device wakes', async () => {
      // A device interrogated once is known to answer: when it registers again, it is interrogated
      // in the main lane at once, without a probe first.
      const endpoint = uniqueEndpoint('sleeper');
      const before = env.device({ endpoint });
      await registerAndInterrogate(env, before);
      await env.statsWhen((s) => s.interrogations.running === 0 && s.interrogations.waiting === 0);
      await before.stop();

      // A device the test answers by hand holds the one read slot with its interrogation.
      await blocker.register([`ep=${uniqueEndpoint('blocker')}`, 'lwm2m=1.1'], '</3/0>');
      blocker.answer(await blocker.nextRequest(), '4.04'); // its probe of /3/0
      const held = await blocker.nextRequest(); // its interrogation reads /3/0/0, ... one by one

      // The first device registers again, in queue mode: its interrogation waits for the slot.
      const deviceClock = new ManualClock();
      const sleeper = env.device({
        endpoint,
        clock: deviceClock,
        lifetime: 100,
        faults: new Map([['queue-mode', 10]]),
      });
      await sleeper.start();
      expect(env.sync.stats().interrogations).toMatchObject({ running: 1, waiting: 1 });
      // Its window passes, by both clocks, before its interrogation starts.
      deviceClock.advance(10_000);
      env.clock.now += 94_000;
      blocker.answer(held, '4.04');
      for (let i = 1; i < DEVICE_INFO_PATHS.length; i++) blocker.answer(await blocker.nextRequest(), '4.04');

      // The awake devices are still interrogated and read, through the one slot.
      const awake = env.device();
      await registerAndInterrogate(env, awake);
      expect(await env.sync.readFirmwareState(awake.endpoint)).toMatchObject({ kind: 'ok', state: 0 });
      await env.statsWhen((s) => s.interrogations.running === 0 && s.interrogations.waiting === 0);
      // Nothing waits for the sleeper, and it is not taken for a silent device.
      expect(env.server.queuedRequests(endpoint)).toBe(0);
      expect(env.sync.stats().interrogations.backedOff).toBe(0);

      // Its Update wakes it: it is interrogated then, in full.
      const since = env.changes.length;
      deviceClock.advance(70_000);
      await env.changes.waitFor(endpoint, isInfo, since);
      await env.changes.waitFor(endpoint, hasResult, since);
      const row = await deviceRow(env, endpoint);
      expect(row.firmware_version).toBe('1.0.0');
      expect(row.registration_state).toBe('registered');
    });
  },
);
