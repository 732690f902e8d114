import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { PskKey, putCredentials } from '../../controller/credentials/index.js';
import type { PskCredentials } from '../../controller/dtls/index.js';
import { ManualClock } from '../../controller/sim/clock.js';
import { endpointName } from '../../controller/sim/fleet.js';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, countWhere, Scene, updatesOf } from '../helpers/rollout-fixture.js';

const DEVICES = 12;
const LIFETIME_S = 600;
/** Short CoAP retransmission: a device notices within seconds that the restarted server lost its session. */
const TIMING = { ackTimeoutMs: 200, ackRandomFactor: 1, maxRetransmit: 3, responseTimeoutMs: 5_000 };
const SPEC = `  strategy:
    maxInFlight: 3
    failureThreshold: { percent: 100, minUpdates: 1000 }
  retries: { max: 2, backoff: 100ms }
`;

describe.each(testBackends)('a simulated fleet over DTLS on $name', (backend) => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('downloads over coaps:// and survives a controller restart: every device updated exactly once', async () => {
    scene = await Scene.create(backend);
    const s = scene;
    const names = Array.from({ length: DEVICES }, (_, i) => endpointName('sim-', i + 1, DEVICES));
    const keys = new Map(names.map((endpoint) => [endpoint, randomBytes(16)]));
    await putCredentials(
      s.db,
      names.map((endpoint) => ({
        endpoint,
        identity: `id-${endpoint}`,
        key: new PskKey(keys.get(endpoint)!),
      })),
    );
    const psk = new Map<string, PskCredentials>(
      names.map((endpoint) => [
        endpoint,
        { identity: Buffer.from(`id-${endpoint}`), key: keys.get(endpoint)! },
      ]),
    );
    const { controller } = await s.startRollout({
      rollout: 'secure',
      spec: SPEC,
      controller: { coapsPort: 0 },
    });
    const clock = new ManualClock();
    const fleet = await s.addFleet({
      count: DEVICES,
      server: `coaps://127.0.0.1:${controller.coapsPort}`,
      psk,
      // CoAPS alone: the firmware can only come through a DTLS session.
      protocols: [1],
      timing: TIMING,
      lifetime: LIFETIME_S,
      clock,
    });
    const rebootsOf = new Map<string, number>();
    fleet.on('rebooted', (e) => rebootsOf.set(e.endpoint, (rebootsOf.get(e.endpoint) ?? 0) + 1));

    const succeeded = () => countWhere(s.db, 'firmware_updates', sql<boolean>`phase = 'succeeded'`);
    await afterPassWhen(controller, async () => (await succeeded()) >= 2);
    const restarted = await s.restartController();
    expect(await succeeded()).toBeLessThan(DEVICES);

    // The new process knows the registrations but none of the sessions: a device finds out at its
    // next Update (which the lost session cannot carry), handshakes again and registers anew.
    clock.advance(LIFETIME_S * 1000);
    await afterPassWhen(restarted, async () => (await succeeded()) === DEVICES);

    // A download cut by the restart may have failed and been retried; one success per device, and
    // nothing left active.
    const updates = await updatesOf(s.db);
    const successes = updates.filter((u) => u.phase === 'succeeded');
    expect(successes.map((u) => u.endpoint).sort()).toEqual(names);
    expect(updates.filter((u) => u.finished_at === null)).toEqual([]);
    expect(successes.every((u) => /^coaps:\/\/127\.0\.0\.1:\d+\/fw\//.test(u.package_uri ?? ''))).toBe(true);
    // Execute reached every device once: one reboot into the new firmware each.
    expect([...rebootsOf.values()]).toEqual(names.map(() => 1));
    expect(fleet.devices.map((d) => d.firmwareVersion)).toEqual(names.map(() => '2.0.0'));
    const rows = await s.db.selectFrom('devices').select(['security', 'firmware_version']).execute();
    expect(rows).toEqual(names.map(() => ({ security: 'psk', firmware_version: '2.0.0' })));
  });
});
