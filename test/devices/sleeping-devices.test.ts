import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../controller/sim/index.js';
import { testBackends } from '../helpers/databases.js';
import { registerAndInterrogate, type SyncEnv, startEnv } from './helpers.js';

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
