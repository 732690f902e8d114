import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { formatPlan } from '../../controller/cli/commands/plan.js';
import { buildPlanReport } from '../../controller/reconcile/report/plan-report.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  canaryOrder,
  countWhere,
  createTestClock,
  firmwareManifest,
  groupManifest,
  planText,
  rolloutManifest,
  rolloutManifests,
  rolloutRow,
  Scene,
  settle,
  updatesOf,
} from '../helpers/rollout-fixture.js';

const pglite = testBackends[0]!;
const NO_THRESHOLD = '    failureThreshold: { percent: 100, minUpdates: 1000 }\n';

async function versions(scene: Scene): Promise<Record<string, string | null>> {
  const rows = await scene.db
    .selectFrom('devices')
    .select(['endpoint', 'firmware_version'])
    .orderBy('endpoint')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.endpoint, r.firmware_version]));
}

describe('which rollout owns a device, and which versions it may install', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('leaves devices two rollouts of equal priority contest alone, reported on both; a higher priority then owns them', async () => {
    scene = await Scene.create(pglite);
    const v2 = await scene.ws.addFirmware('2.0.0');
    const v3 = await scene.ws.addFirmware('3.0.0');
    // `all` holds sim-000001..12; `low` holds sim-000001..9 (overlapping by pattern).
    const manifests = (lowPriority: number) =>
      [
        firmwareManifest(v2),
        firmwareManifest(v3),
        groupManifest('all', 'sim-*'),
        groupManifest('low', 'sim-00000*'),
        rolloutManifest({
          name: 'fleet-wide',
          group: 'all',
          firmware: v2.name,
          extra: `  strategy:\n${NO_THRESHOLD}`,
        }),
        rolloutManifest({
          name: 'low-ids',
          group: 'low',
          firmware: v3.name,
          extra: `  priority: ${lowPriority}\n  strategy:\n${NO_THRESHOLD}`,
        }),
      ].join('---\n');
    await scene.ws.writeManifest('fleet.yaml', manifests(0));
    const controller = await scene.startController();
    await scene.addFleet({ count: 12 });
    await afterPassWhen(controller, async () => {
      const wide = await rolloutRow(scene!.db, 'fleet-wide');
      const low = await rolloutRow(scene!.db, 'low-ids');
      return wide?.phase === 'Conflict' && low?.phase === 'Conflict' && wide.counts.upToDate === 3;
    });
    await settle(controller);
    const contested = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((n) => `sim-00000${n}`);
    for (const endpoint of contested) expect(await updatesOf(scene.db, endpoint)).toEqual([]);
    expect(await versions(scene)).toMatchObject({
      'sim-000010': '2.0.0',
      'sim-000011': '2.0.0',
      'sim-000012': '2.0.0',
    });
    const wide = await rolloutRow(scene.db, 'fleet-wide');
    expect(wide?.counts).toMatchObject({ selected: 12, conflicted: 9, upToDate: 3 });
    expect(wide?.counts.message).toBe(
      '9 of 12 devices are also selected by a rollout of equal priority; neither touches them',
    );
    const reports = await buildPlanReport(scene.db, controller.desired()!, Date.now());
    const examples = canaryOrder('fleet-wide', contested).slice(0, 5);
    expect(reports.find((r) => r.name === 'fleet-wide')?.waits).toContainEqual({
      kind: 'conflict',
      devices: 9,
      examples,
    });
    expect(reports.find((r) => r.name === 'low-ids')?.waits).toContainEqual(
      expect.objectContaining({ kind: 'conflict', devices: 9 }),
    );
    expect(formatPlan(reports)).toContain(
      `waits: 9 devices also selected by a rollout of equal priority; neither touches them (e.g. ${examples.join(', ')})`,
    );

    // A commit gives `low-ids` the higher priority: it owns the contested devices.
    await scene.ws.writeManifest('fleet.yaml', manifests(5));
    await afterPassWhen(controller, async () => {
      const low = await rolloutRow(scene!.db, 'low-ids');
      const wideNow = await rolloutRow(scene!.db, 'fleet-wide');
      return low?.phase === 'Completed' && wideNow?.phase === 'Completed';
    });
    const after = await versions(scene);
    for (const endpoint of contested) expect(after[endpoint]).toBe('3.0.0');
    expect((await rolloutRow(scene.db, 'fleet-wide'))?.counts).toMatchObject({
      ownedElsewhere: 9,
      conflicted: 0,
    });
  });

  it('refuses a downgrade (and versions it cannot order) until allowDowngrade: true', async () => {
    scene = await Scene.create(pglite);
    const older = await scene.ws.addFirmware('1.5.0');
    const rollback = (allow: boolean) =>
      rolloutManifests({
        firmware: older,
        rollout: 'rollback',
        spec: `  allowDowngrade: ${allow}\n  strategy:\n${NO_THRESHOLD}`,
      });
    await scene.ws.writeManifest('fleet.yaml', rollback(false));
    const controller = await scene.startController();
    await scene.addFleet({ count: 3, version: '2.0.0' });
    await scene.addFleet({ count: 1, prefix: 'sim-odd-', version: 'nightly-7' });
    await scene.devicesKnown(4);
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'rollback'))?.counts.downgradeRefused === 4,
    );
    await settle(controller);
    expect(await countWhere(scene.db, 'firmware_updates')).toBe(0);
    expect(await planText(scene)).toContain(
      'waits: 4 devices run a newer (or not comparable) version; set allowDowngrade: true to roll them back',
    );

    await scene.ws.writeManifest('fleet.yaml', rollback(true));
    // Refused downgrades already count as Completed: wait for the devices too, not just the phase.
    await afterPassWhen(controller, async () => {
      const row = await rolloutRow(scene!.db, 'rollback');
      return row?.phase === 'Completed' && row.counts.upToDate === 4;
    });
    expect(Object.values(await versions(scene))).toEqual(['1.5.0', '1.5.0', '1.5.0', '1.5.0']);
  });

  it('rolls devices back on a git revert of the firmware only with allowDowngrade: true', async () => {
    scene = await Scene.create(pglite);
    const v1 = await scene.ws.addFirmware('1.0.0');
    const v2 = await scene.ws.addFirmware('2.0.0');
    const pinned = (firmware: typeof v1, allow: boolean) =>
      rolloutManifests({
        firmware,
        extraFirmware: [firmware === v1 ? v2 : v1],
        rollout: 'pinned',
        spec: `  allowDowngrade: ${allow}\n  strategy:\n${NO_THRESHOLD}`,
      });
    await scene.ws.writeManifest('fleet.yaml', pinned(v2, false));
    const controller = await scene.startController();
    await scene.addFleet({ count: 3 });
    await afterPassWhen(controller, async () => {
      const row = await rolloutRow(scene!.db, 'pinned');
      return row?.phase === 'Completed' && row.counts.upToDate === 3;
    });
    expect(Object.values(await versions(scene))).toEqual(['2.0.0', '2.0.0', '2.0.0']);

    // Reverting the firmware without allowDowngrade is refused: the controller keeps the last valid state.
    await scene.ws.writeManifest('fleet.yaml', pinned(v1, false));
    await afterPassWhen(
      controller,
      async () => (await countWhere(scene!.db, 'events', sql<boolean>`type = 'ManifestsInvalid'`)) > 0,
    );
    await settle(controller);
    expect(controller.desired()?.rollouts.get('pinned')?.firmware.version).toBe('2.0.0');
    expect(Object.values(await versions(scene))).toEqual(['2.0.0', '2.0.0', '2.0.0']);

    await scene.ws.writeManifest('fleet.yaml', pinned(v1, true));
    await afterPassWhen(controller, async () => {
      const row = await rolloutRow(scene!.db, 'pinned');
      return (
        row?.phase === 'Completed' &&
        row.counts.upToDate === 3 &&
        JSON.stringify(row.spec).includes('"1.0.0"')
      );
    });
    expect(Object.values(await versions(scene))).toEqual(['1.0.0', '1.0.0', '1.0.0']);
  });

  it('brings a device that later reports another version back to the target, under the downgrade rules', async () => {
    scene = await Scene.create(pglite);
    const { controller } = await scene.startRollout({
      rollout: 'steady',
      spec: `  strategy:\n${NO_THRESHOLD}`,
    });
    const fleet = await scene.addFleet({ count: 3 });
    const other = await scene.addFleet({ count: 1, prefix: 'sim-b-' });
    await afterPassWhen(controller, async () => {
      const row = await rolloutRow(scene!.db, 'steady');
      return row?.phase === 'Completed' && row.counts.upToDate === 4;
    });

    // sim-000001 is reflashed by hand with 1.0.0, sim-b-000001 with 3.0.0; each comes back on that version.
    await fleet.device('sim-000001')!.stop();
    await other.stop();
    await scene.addFleet({ count: 1, version: '1.0.0' });
    await scene.addFleet({ count: 1, version: '3.0.0', prefix: 'sim-b-' });
    await afterPassWhen(controller, async () => {
      const row = await rolloutRow(scene!.db, 'steady');
      const v = await versions(scene!);
      return v['sim-000001'] === '2.0.0' && row?.counts.downgradeRefused === 1 && row.counts.inFlight === 0;
    });
    const drifted = await updatesOf(scene.db, 'sim-000001');
    expect(drifted.map((u) => [u.attempt, u.from_version, u.phase])).toEqual([
      [1, '1.0.0', 'succeeded'],
      [2, '1.0.0', 'succeeded'],
    ]);
    expect((await updatesOf(scene.db, 'sim-b-000001')).map((u) => u.phase)).toEqual(['succeeded']);
    expect((await versions(scene))['sim-b-000001']).toBe('3.0.0');
  });

  it('names in `otactl plan` what waits for the in-flight limit and the start rate, and what starts next', async () => {
    scene = await Scene.create(pglite);
    const clock = createTestClock();
    const target = await scene.ws.addFirmware('2.0.0');
    const limited = (maxInFlight: number, maxPerMinute: number, suspend = false) =>
      rolloutManifests({
        firmware: target,
        rollout: 'limited',
        // A closed window keeps started updates in flight (Downloaded).
        spec: `  suspend: ${suspend}
  strategy:
    maxInFlight: ${maxInFlight}
    maxPerMinute: ${maxPerMinute}
${NO_THRESHOLD}  window: { cron: "0 0 29 2 1", duration: 1m }
`,
      });
    const controller = await scene.startController({ clock: clock.now });
    const fleet = await scene.addFleet({ count: 8 });
    // The Rollout lands once every device is known, so the first starts follow the canary order.
    await scene.devicesKnown(8);
    await scene.ws.writeManifest('fleet.yaml', limited(2, 100));
    const order = canaryOrder(
      'limited',
      fleet.devices.map((d) => d.endpoint),
    );
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'limited'))?.counts.downloaded === 2,
    );
    let text = await planText(scene, clock.now());
    expect(text).toContain('waits: in-flight limit reached (maxInFlight 2)');
    expect(text).toContain('waits: step 1 has 8 devices to finish before the next step');
    expect(text).toContain('starts next: none');

    // Room in flight, but three starts a minute: one more start, then the rate limit.
    await scene.ws.writeManifest('fleet.yaml', limited(100, 3));
    await afterPassWhen(controller, async () => (await countWhere(scene!.db, 'firmware_updates')) === 3);
    await settle(controller);
    expect(await countWhere(scene.db, 'firmware_updates')).toBe(3);
    text = await planText(scene, clock.now());
    expect(text).toContain('waits: start rate limit reached (maxPerMinute 3)');
    expect(text).toContain('starts next: none');
    // A minute later the next three in canary order would start.
    text = await planText(scene, clock.now() + 61_000);
    expect(text).toContain(`starts next: 3 (${order.slice(3, 6).join(', ')})`);

    await scene.ws.writeManifest('fleet.yaml', limited(100, 3, true));
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'limited'))?.phase === 'Suspended',
    );
    text = await planText(scene, clock.now() + 61_000);
    expect(text).toContain('waits: suspended (spec.suspend: true): no new updates start');
    expect(text).toContain('starts next: none');
  });
});
