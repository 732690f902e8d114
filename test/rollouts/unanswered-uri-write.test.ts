import { afterEach, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, rolloutRow, Scene, updatesOf } from '../helpers/rollout-fixture.js';

/** The controller's requests give up after 200 + 400 ms: a lost answer is a timeout within a second. */
const QUICK_TIMEOUT = { ackTimeoutMs: 200, ackRandomFactor: 1, maxRetransmit: 1 };

/**
 * A Package URI write whose answer is lost (the device took it and started downloading) is a
 * timeout to the controller. Writing the URI again would restart, or on some clients refuse, the
 * download under way; the device's own report of State 1 or 2 since the write says it arrived.
 */
describe.each(testBackends)('a Package URI write whose answer is lost, on $name', (backend) => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('is taken as arrived once the device reports its download: written once, downloaded once, updated', async () => {
    scene = await Scene.create(backend);
    const s = scene;
    await s.startRollout({ rollout: 'lossy', controller: { coapTiming: QUICK_TIMEOUT } });
    const fleet = await s.addFleet({ count: 2, faults: 'uri-write-unanswered=@sim-000001' });
    const [lossy, healthy] = fleet.devices;
    await afterPassWhen(s.controller, async () => (await rolloutRow(s.db, 'lossy'))?.phase === 'Completed');

    const [update] = await updatesOf(s.db, lossy!.endpoint);
    expect(update).toMatchObject({ phase: 'succeeded', attempt: 1 });
    const events = await s.db
      .selectFrom('events')
      .select('type')
      .where('update_id', '=', update!.id)
      .orderBy('id')
      .execute();
    const types = events.map((e) => e.type);
    expect(types).toContain('PackageUriUnanswered');
    expect(types.indexOf('PackageUriTaken')).toBeGreaterThan(types.indexOf('PackageUriUnanswered'));
    expect(types).not.toContain('PackageUriWritten');
    // One write (its retransmissions were duplicates), no reset, no second download.
    expect(lossy!.packageUriWrites).toBe(1);
    expect(lossy!.packageUriResets).toBe(0);
    expect(healthy!.packageUriWrites).toBe(1);
  });
});
