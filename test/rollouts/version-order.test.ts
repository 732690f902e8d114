import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDesiredState } from '../../controller/manifests/index.js';
import { loadAppliedTargets } from '../../controller/reconcile/read/applied-targets.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  countWhere,
  planText,
  rolloutManifests,
  rolloutRow,
  Scene,
  settle,
} from '../helpers/rollout-fixture.js';

const NO_THRESHOLD = '    failureThreshold: { percent: 100, minUpdates: 1000 }\n';

async function versions(scene: Scene): Promise<Record<string, string | null>> {
  const rows = await scene.db
    .selectFrom('devices')
    .select(['endpoint', 'firmware_version'])
    .orderBy('endpoint')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.endpoint, r.firmware_version]));
}

describe.each(testBackends)('the version order of a running controller on $name', (backend) => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('rolls devices from 1.9.0 to 2.0.0-rc.1, and refuses only those above it or not ordered', async () => {
    scene = await Scene.create(backend);
    const { controller } = await scene.startRollout({
      rollout: 'rc',
      version: '2.0.0-rc.1',
      spec: `  strategy:\n${NO_THRESHOLD}`,
    });
    await scene.addFleet({ count: 3, version: '1.9.0' });
    // Same rank as the target (build metadata): not a downgrade, so it is updated.
    await scene.addFleet({ count: 1, version: '2.0.0-rc.1+build.7', prefix: 'sim-b-' });
    // Above the target (a leading v is tolerated), and a version that cannot be ordered: refused.
    await scene.addFleet({ count: 1, version: 'v2.0.0', prefix: 'sim-c-' });
    await scene.addFleet({ count: 1, version: 'R12', prefix: 'sim-d-' });
    await afterPassWhen(controller, async () => {
      const row = await rolloutRow(scene!.db, 'rc');
      return row?.counts.upToDate === 4 && row.counts.downgradeRefused === 2 && row.counts.inFlight === 0;
    });
    expect(await versions(scene)).toEqual({
      'sim-000001': '2.0.0-rc.1',
      'sim-000002': '2.0.0-rc.1',
      'sim-000003': '2.0.0-rc.1',
      'sim-b-000001': '2.0.0-rc.1',
      'sim-c-000001': 'v2.0.0',
      'sim-d-000001': 'R12',
    });
    expect(await planText(scene)).toContain(
      'waits: 2 devices run a newer (or not comparable) version; set allowDowngrade: true to roll them back',
    );
  });

  it('refuses a downgrade to a prerelease on the rollout itself, keeps the last valid state, and after a restart too', async () => {
    scene = await Scene.create(backend);
    const rc = await scene.ws.addFirmware('2.0.0-rc.1');
    const release = await scene.ws.addFirmware('2.0.0');
    const fleetYaml = (firmware: typeof rc) =>
      rolloutManifests({
        firmware,
        extraFirmware: [firmware === rc ? release : rc],
        rollout: 'pinned',
        spec: `  strategy:\n${NO_THRESHOLD}`,
      });
    await scene.ws.writeManifest('fleet.yaml', fleetYaml(release));
    let controller = await scene.startController();
    await scene.addFleet({ count: 3, version: '1.9.0' });
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'pinned'))?.counts.upToDate === 3,
    );

    await scene.ws.writeManifest('fleet.yaml', fleetYaml(rc));
    const refusal = async () =>
      scene!.db
        .selectFrom('events')
        .select(['message', 'details'])
        .where('rollout', '=', 'pinned')
        .where('type', '=', 'ManifestsInvalid')
        .execute();
    await afterPassWhen(controller, async () => (await refusal()).length > 0);
    const [event] = await refusal();
    expect(event?.message).toMatch(
      /^change refused, acting on the last valid manifests: .*fleet\.yaml:\d+:\d+: downgrade from 2\.0\.0 to 2\.0\.0-rc\.1 without allowDowngrade: true$/,
    );
    await settle(controller);
    expect(controller.desired()?.rollouts.get('pinned')?.firmware.version).toBe('2.0.0');
    expect(Object.values(await versions(scene))).toEqual(['2.0.0', '2.0.0', '2.0.0']);

    // `plan` without the controller refuses it against what the controller applied.
    const planned = await loadDesiredState(scene.ws.manifestsDir, {
      firmwareDir: scene.ws.firmwareDir,
      previous: await loadAppliedTargets(scene.db),
    });
    expect(planned.ok ? [] : planned.problems.map((p) => p.message)).toEqual([
      'downgrade from 2.0.0 to 2.0.0-rc.1 without allowDowngrade: true',
    ]);

    // A restarted controller compares with what it applied before, not with nothing.
    controller = await scene.restartController();
    await settle(controller);
    expect(controller.desired()).toBeUndefined();
    expect(
      await countWhere(scene.db, 'events', sql<boolean>`rollout = 'pinned' and type = 'ManifestsInvalid'`),
    ).toBe(2);
    expect(Object.values(await versions(scene))).toEqual(['2.0.0', '2.0.0', '2.0.0']);
  });
});
