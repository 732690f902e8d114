import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  countWhere,
  createTestClock,
  fleetEvent,
  rolloutManifests,
  rolloutRow,
  Scene,
  settle,
  updatesOf,
} from '../helpers/rollout-fixture.js';

const pglite = testBackends[0]!;
const NO_THRESHOLD = '    failureThreshold: { percent: 100, minUpdates: 1000 }\n';

/** Devices on `version`, and active updates. */
async function progress(scene: Scene, version: string): Promise<{ onTarget: number; active: number }> {
  return {
    onTarget: await countWhere(scene.db, 'devices', sql<boolean>`firmware_version = ${version}`),
    active: await countWhere(scene.db, 'firmware_updates', sql<boolean>`finished_at is null`),
  };
}

async function succeededPerDevice(scene: Scene): Promise<Record<string, number>> {
  const rows = await sql<{ endpoint: string; n: number }>`
    select endpoint, count(*) filter (where phase = 'succeeded') as n from firmware_updates
    group by endpoint order by endpoint`.execute(scene.db);
  return Object.fromEntries(rows.rows.map((r) => [r.endpoint, Number(r.n)]));
}

describe('the life of a rollout', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('ends an attempt as connection lost when its device reboots and registers again mid-download, and retries it', async () => {
    scene = await Scene.create(pglite);
    const { controller } = await scene.startRollout({
      rollout: 'reboot',
      spec: `  strategy:\n${NO_THRESHOLD}  retries: { max: 2, backoff: 200ms }\n`,
    });
    // A device that stays in Downloading until something happens to it.
    const fleet = await scene.addFleet({ count: 1, faults: 'silent-download=@sim-000001' });
    const db = scene.db;
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'downloading');
    const oldPort = fleet.devices[0]!.port;
    // It restarts while downloading: the download is lost and it registers from a new port.
    const reboot = await controller.lwm2m.device('sim-000001').execute('/3/0/4');
    expect(reboot.kind).toBe('ok');
    await fleetEvent(fleet, (e) => e.kind === 'registered');
    expect(fleet.devices[0]!.port).not.toBe(oldPort);
    await afterPassWhen(controller, async () => {
      const updates = await updatesOf(db);
      return updates.length === 2 && updates[1]?.phase === 'downloading';
    });
    const updates = await updatesOf(db, 'sim-000001');
    expect(updates.map((u) => [u.attempt, u.phase, u.result, u.failure_reason, u.retryable])).toEqual([
      [1, 'failed', 4, 'result 4: connection lost during download', true],
      [2, 'downloading', 0, null, null],
    ]);
    // The new attempt's Package URI reached the device at its new address.
    expect(fleet.devices[0]!.state).toBe(1);
  });

  it('starts a device that was offline when the rollout began once it registers', async () => {
    scene = await Scene.create(pglite);
    const target = await scene.ws.addFirmware('2.0.0');
    // Known to the controller, then gone before the rollout exists.
    const controller = await scene.startController();
    const late = await scene.addFleet({ count: 1, prefix: 'sim-late-' });
    await scene.devicesKnown(1);
    await late.stop();
    await afterPassWhen(controller, async () => {
      const d = await scene!.db.selectFrom('devices').select('registration_state').executeTakeFirstOrThrow();
      return d.registration_state === 'deregistered';
    });

    await scene.addFleet({ count: 5 });
    await scene.devicesKnown(6);
    await scene.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({ firmware: target, rollout: 'late', spec: `  strategy:\n${NO_THRESHOLD}` }),
    );
    await afterPassWhen(controller, async () => (await progress(scene!, '2.0.0')).onTarget === 5);
    await settle(controller);
    expect(await updatesOf(scene.db, 'sim-late-000001')).toEqual([]);
    const waiting = await rolloutRow(scene.db, 'late');
    expect(waiting?.phase).toBe('Progressing');
    expect(waiting?.counts).toMatchObject({ selected: 6, upToDate: 5, offline: 1, pending: 1 });

    // The same device comes back (a new process, same endpoint) and gets its update.
    await scene.addFleet({ count: 1, prefix: 'sim-late-' });
    await afterPassWhen(controller, async () => (await rolloutRow(scene!.db, 'late'))?.phase === 'Completed');
    expect(await succeededPerDevice(scene)).toEqual({
      'sim-000001': 1,
      'sim-000002': 1,
      'sim-000003': 1,
      'sim-000004': 1,
      'sim-000005': 1,
      'sim-late-000001': 1,
    });
  });

  it('suspends: no new starts while in-flight updates finish; unsuspending completes the rollout', async () => {
    scene = await Scene.create(pglite);
    const clock = createTestClock();
    const target = await scene.ws.addFirmware('2.0.0');
    const manifests = (suspend: boolean, maxPerMinute: number) =>
      rolloutManifests({
        firmware: target,
        rollout: 'pausable',
        spec: `  suspend: ${suspend}\n  strategy:\n    maxPerMinute: ${maxPerMinute}\n${NO_THRESHOLD}`,
      });
    // Three starts a minute: the first three are in flight when the suspension arrives.
    await scene.ws.writeManifest('fleet.yaml', manifests(false, 3));
    const controller = await scene.startController({ clock: clock.now });
    await scene.addFleet({ count: 12 });
    await afterPassWhen(controller, async () => (await countWhere(scene!.db, 'firmware_updates')) === 3);
    await scene.ws.writeManifest('fleet.yaml', manifests(true, 3));
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'pausable'))?.phase === 'Suspended',
    );

    // In-flight updates finish; nothing new starts, even once the rate limit has room again.
    await afterPassWhen(controller, async () => (await progress(scene!, '2.0.0')).active === 0);
    clock.advance(61_000);
    await settle(controller, 3);
    expect(await countWhere(scene.db, 'firmware_updates')).toBe(3);
    expect(await countWhere(scene.db, 'firmware_updates', sql<boolean>`phase = 'succeeded'`)).toBe(3);
    const suspended = await rolloutRow(scene.db, 'pausable');
    expect(suspended?.counts).toMatchObject({ inFlight: 0, upToDate: 3, pending: 9 });

    await scene.ws.writeManifest('fleet.yaml', manifests(false, 100));
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'pausable'))?.phase === 'Completed',
    );
    expect(Object.values(await succeededPerDevice(scene))).toEqual(Array(12).fill(1));
  });

  it('cancels not-yet-executed updates when the target changes, then moves on to the new target', async () => {
    scene = await Scene.create(pglite);
    const v2 = await scene.ws.addFirmware('2.0.0');
    const v3 = await scene.ws.addFirmware('3.0.0');
    // A window that is practically never open: downloads finish, Execute waits.
    await scene.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({
        firmware: v2,
        extraFirmware: [v3],
        rollout: 'moving',
        spec: `  strategy:\n${NO_THRESHOLD}  window: { cron: "0 0 29 2 1", duration: 1m }\n`,
      }),
    );
    const controller = await scene.startController();
    const fleet = await scene.addFleet({ count: 6 });
    await afterPassWhen(
      controller,
      async () => (await countWhere(scene!.db, 'firmware_updates', sql<boolean>`phase = 'downloaded'`)) === 6,
    );
    expect(fleet.devices.map((d) => d.state)).toEqual(Array(6).fill(2));

    await scene.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({
        firmware: v3,
        extraFirmware: [v2],
        rollout: 'moving',
        spec: `  strategy:\n${NO_THRESHOLD}`,
      }),
    );
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'moving'))?.phase === 'Completed',
    );
    for (const device of fleet.devices) {
      const updates = await updatesOf(scene.db, device.endpoint);
      expect(updates.map((u) => [u.target_version, u.phase, u.result, u.failure_reason])).toEqual([
        ['2.0.0', 'cancelled', 10, "the rollout's target changed to 3.0.0"],
        ['3.0.0', 'succeeded', 1, null],
      ]);
      expect(device.firmwareVersion).toBe('3.0.0');
    }
    // The withdrawn 2.0.0 updates were never executed.
    const executed = await sql<{ target: string; n: number }>`
      select u.target_version as target, count(*) as n from events e join firmware_updates u on u.id = e.update_id
      where e.type = 'UpdateExecuted' group by 1`.execute(scene.db);
    expect(executed.rows.map((r) => [r.target, Number(r.n)])).toEqual([['3.0.0', 6]]);
  });
});

// Whether a replaced controller resumes without duplicates depends on the database: every backend.
describe.each(testBackends)('a controller replaced mid-rollout on $name', (backend) => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('finishes with exactly one successful update per device when the controller is replaced mid-rollout', async () => {
    scene = await Scene.create(backend);
    const { controller: first } = await scene.startRollout({
      rollout: 'restart',
      spec: `  strategy:\n    maxInFlight: 5\n${NO_THRESHOLD}  retries: { max: 3, backoff: 200ms }\n`,
    });
    await scene.addFleet({ count: 20 });
    await afterPassWhen(
      first,
      async () => (await countWhere(scene!.db, 'firmware_updates', sql<boolean>`phase = 'succeeded'`)) >= 3,
    );
    const second = await scene.restartController();
    const midway = await progress(scene, '2.0.0');
    expect(midway.onTarget).toBeLessThan(20);

    await afterPassWhen(second, async () => {
      const p = await progress(scene!, '2.0.0');
      return p.onTarget === 20 && p.active === 0;
    });
    const perDevice = await succeededPerDevice(scene);
    expect(Object.keys(perDevice)).toHaveLength(20);
    expect(Object.values(perDevice)).toEqual(Array(20).fill(1));
    expect(await countWhere(scene.db, 'firmware_updates', sql<boolean>`finished_at is null`)).toBe(0);
  });
});
