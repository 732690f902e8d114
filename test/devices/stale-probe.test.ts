import { afterEach, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import { RawDevice, type Received } from '../lwm2m/support/raw-device.js';
import { isInfo, NEW, OLD, type SyncEnv, startEnv, uniqueEndpoint } from './helpers.js';

/**
 * A probe's answer waits in the background queue for its interrogation. If the device registers
 * again meanwhile (it rebooted into new firmware), that answer describes the firmware it ran before:
 * stored as read now, it would show the old version after the restart, and the planner would fail
 * an update that installed ("reported success, still on 1.0.0", seen in the crash-safety test).
 */
describe.each(testBackends)('a probe answered before the device registered again ($name)', (backend) => {
  let env: SyncEnv | undefined;
  const sockets: RawDevice[] = [];
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((d) => d.close()));
    await env?.close();
    env = undefined;
  });

  it('is not stored for the new registration: the device is read again', async () => {
    // One background slot, held by a device that does not answer until told to.
    env = await startEnv(backend, { lanes: { maxConcurrentReads: 1, backoffSweepMs: 0 } });
    const blocker = await RawDevice.open(env.server.address().port);
    sockets.push(blocker);
    const held: Received[] = [];
    let release = false;
    let requests = 0;
    void (async () => {
      for (;;) {
        const req = await blocker.nextRequest();
        // The probe is answered (the interrogation follows in the background lane); what comes
        // after it (the interrogation's reads, their retransmissions) waits for the release.
        if (++requests === 1 || release) blocker.answer(req, '4.04');
        else held.push(req);
      }
    })().catch(() => {});
    const blockerEndpoint = uniqueEndpoint('blocker');
    expect((await blocker.register([`ep=${blockerEndpoint}`], '</1/0>,</3/0>')).code).toBe('2.01');
    await env.statsWhen((s) => s.interrogations.running === 1 && s.interrogations.probesRunning === 0);

    // Registered on the old firmware: probed, its interrogation waits behind the blocker's.
    const endpoint = uniqueEndpoint('rebooting');
    const before = env.device({ endpoint, version: OLD });
    await before.start();
    await env.changes.waitFor(endpoint, (why) => why.kind === 'registered');
    // A probe waits while registrations are being written; a read asked for now (queued behind
    // the blocker too) starts it once they are.
    const asked = env.sync.readFirmwareState(blockerEndpoint);
    await env.statsWhen(
      (s) =>
        s.interrogations.probesRunning === 0 &&
        s.interrogations.probesWaiting === 0 &&
        s.interrogations.waiting === 2,
    );

    // Restarted on the new firmware (a new port, a new registration) before it was interrogated.
    const since = env.changes.length;
    const after = env.device({ endpoint, version: NEW });
    await after.start();
    await env.changes.waitFor(endpoint, (why) => why.kind === 'registered', since);

    release = true;
    for (const req of held.splice(0)) blocker.answer(req, '4.04');
    await env.changes.waitFor(endpoint, isInfo);
    await asked;
    const row = await env.db.db
      .selectFrom('devices')
      .select(['firmware_version', 'registration_id'])
      .where('endpoint', '=', endpoint)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({
      firmware_version: NEW,
      registration_id: env.server.registration(endpoint)?.id,
    });
  });
});
