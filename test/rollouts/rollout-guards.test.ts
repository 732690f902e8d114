import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { endpointName } from '../../controller/sim/index.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  canaryOrder,
  countWhere,
  createTestClock,
  planText,
  rolloutManifests,
  rolloutRow,
  Scene,
  settle,
  updatesOf,
} from '../helpers/rollout-fixture.js';

const pglite = testBackends[0]!;

function endpoints(count: number): string[] {
  return Array.from({ length: count }, (_, i) => endpointName('sim-', i + 1, count));
}

describe('failure thresholds and maintenance windows', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('pauses at the failure threshold after exactly minUpdates finished, and a commit raising it resumes', async () => {
    scene = await Scene.create(pglite);
    const target = await scene.ws.addFirmware('2.0.0');
    // One update at a time, in canary order: the first two fail (no flash), the rest succeed.
    const order = canaryOrder('guarded', endpoints(12));
    const guarded = (percent: number) =>
      rolloutManifests({
        firmware: target,
        rollout: 'guarded',
        spec: `  strategy:
    maxInFlight: 1
    failureThreshold: { percent: ${percent}, minUpdates: 4, action: pause }
  retries: { max: 0 }
`,
      });
    // The Rollout lands once every device is known, so the first pass sees the whole canary order.
    const controller = await scene.startController();
    await scene.addFleet({ count: 12, faults: `no-storage=@${order[0]}|${order[1]}` });
    await scene.devicesKnown(12);
    await scene.ws.writeManifest('fleet.yaml', guarded(50));
    await afterPassWhen(controller, async () => (await rolloutRow(scene!.db, 'guarded'))?.phase === 'Paused');
    await settle(controller);
    // 2 failed of 2 finished is 100%, but below minUpdates; 2 of 4 is 50%: it trips there, not later.
    const updates = await updatesOf(scene.db);
    expect(updates.map((u) => [u.endpoint, u.phase])).toEqual([
      [order[0], 'failed'],
      [order[1], 'failed'],
      [order[2], 'succeeded'],
      [order[3], 'succeeded'],
    ]);
    const paused = await rolloutRow(scene.db, 'guarded');
    expect(paused?.paused_reason).toBe(
      'failure threshold: 2 of 4 failed (>= 50%) (2 × result 2: not enough flash); change the Rollout in git to resume',
    );
    const events = await scene.db
      .selectFrom('events')
      .select('message')
      .where('type', '=', 'RolloutPaused')
      .execute();
    expect(events.map((e) => e.message)).toEqual([
      'failure threshold reached: 2 of 4 finished updates failed (50.0% >= 50%) (2 × result 2: not enough flash)',
    ]);
    expect(await planText(scene)).toContain(
      'waits: paused by the failure threshold: 2 of 4 failed (>= 50%) (2 × result 2: not enough flash); change the Rollout in git to resume',
    );

    // Resume by commit: a higher threshold is a new generation of the Rollout.
    await scene.ws.writeManifest('fleet.yaml', guarded(60));
    // Finished, with the two failures still visible: Degraded, never a green Completed.
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'guarded'))?.phase === 'Degraded',
    );
    expect((await rolloutRow(scene.db, 'guarded'))?.counts.message).toBe(
      '10 of 12 devices on 2.0.0; 2 failed (2 × result 2: not enough flash)',
    );
    expect(await countWhere(scene.db, 'firmware_updates', sql<boolean>`phase = 'succeeded'`)).toBe(10);
    expect(await countWhere(scene.db, 'firmware_updates', sql<boolean>`phase = 'failed'`)).toBe(2);
  });

  it('aborts at the failure threshold: no new starts, not-yet-executed updates cancelled', async () => {
    scene = await Scene.create(pglite);
    const order = canaryOrder('doomed', endpoints(12));
    const controller = await scene.startController();
    // The first three in canary order fail at once (no flash).
    const failing = order.slice(0, 3);
    const fleet = await scene.addFleet({ count: 12, faults: `no-storage=@${failing.join('|')}` });
    // The Rollout lands once every device is known, so the first pass starts the canary order's first five.
    await scene.devicesKnown(12);
    const target = await scene.ws.addFirmware('2.0.0');
    await scene.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({
        firmware: target,
        rollout: 'doomed',
        // A window that is practically never open keeps the healthy devices Downloaded, not yet executed.
        spec: `  strategy:
    maxInFlight: 5
    failureThreshold: { percent: 50, minUpdates: 3, action: abort }
  retries: { max: 0 }
  window: { cron: "0 0 29 2 1", duration: 1m }
`,
      }),
    );
    await afterPassWhen(controller, async () => {
      const row = await rolloutRow(scene!.db, 'doomed');
      const active = await countWhere(scene!.db, 'firmware_updates', sql<boolean>`finished_at is null`);
      return row?.phase === 'Aborted' && active === 0;
    });
    const started = await countWhere(scene.db, 'firmware_updates');
    await settle(controller, 3);
    expect(await countWhere(scene.db, 'firmware_updates')).toBe(started);

    const updates = await updatesOf(scene.db);
    expect(
      updates
        .filter((u) => u.phase === 'failed')
        .map((u) => u.endpoint)
        .sort(),
    ).toEqual([...failing].sort());
    const cancelled = updates.filter((u) => u.phase === 'cancelled');
    expect(cancelled.length).toBe(started - 3);
    expect(cancelled.length).toBeGreaterThan(0);
    for (const u of cancelled) {
      expect(u).toMatchObject({
        result: 10,
        state: 0,
        failure_reason: 'rollout aborted by its failure threshold',
      });
      // The withdrawal reached the device: an empty 5/0/1 put it back to Idle.
      expect(fleet.device(u.endpoint)?.state).toBe(0);
    }
    expect(await countWhere(scene.db, 'events', sql<boolean>`type = 'UpdateExecuted'`)).toBe(0);
    const aborted = await scene.db
      .selectFrom('events')
      .select('message')
      .where('type', '=', 'RolloutAborted')
      .execute();
    expect(aborted.map((e) => e.message)).toEqual([
      'failure threshold reached: 3 of 3 finished updates failed (100.0% >= 50%) (3 × result 2: not enough flash)',
    ]);
    const text = await planText(scene);
    expect(text).toContain('waits: aborted: failure threshold: 3 of 3 failed (>= 50%)');
    expect(text).toContain('starts next: none');
  });

  it('executes only inside the maintenance window: Downloaded devices wait while it is closed', async () => {
    scene = await Scene.create(pglite);
    // Hourly windows of 10 minutes; the controller's clock starts 10 minutes before one opens.
    const clock = createTestClock(Date.parse('2030-01-01T00:50:00Z'));
    const v2 = await scene.ws.addFirmware('2.0.0');
    const v3 = await scene.ws.addFirmware('3.0.0');
    const windowed = (firmware: typeof v2, extra: typeof v2) =>
      rolloutManifests({
        firmware,
        extraFirmware: [extra],
        rollout: 'nightly',
        spec: `  strategy:
    failureThreshold: { percent: 100, minUpdates: 1000 }
  window: { cron: "0 * * * *", duration: 10m, timezone: UTC }
`,
      });
    await scene.ws.writeManifest('fleet.yaml', windowed(v2, v3));
    const controller = await scene.startController({ clock: clock.now });
    const fleet = await scene.addFleet({ count: 4 });
    const downloaded = () => countWhere(scene!.db, 'firmware_updates', sql<boolean>`phase = 'downloaded'`);
    await afterPassWhen(controller, async () => (await downloaded()) === 4);
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'nightly'))?.counts.downloaded === 4,
    );
    await settle(controller);
    expect(await countWhere(scene.db, 'events', sql<boolean>`type = 'UpdateExecuted'`)).toBe(0);
    expect(fleet.devices.map((d) => d.state)).toEqual([2, 2, 2, 2]);
    expect(await planText(scene, clock.now())).toContain(
      'waits: downloaded devices wait for the maintenance window (opens 2030-01-01T01:00:00.000Z)',
    );

    // The window opens.
    clock.advanceTo(Date.parse('2030-01-01T01:00:30Z'));
    controller.reconciler.trigger();
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'nightly'))?.phase === 'Completed',
    );
    const executed = await scene.db.selectFrom('firmware_updates').select('executed_at').execute();
    for (const u of executed) {
      expect(u.executed_at!.getTime()).toBeGreaterThanOrEqual(Date.parse('2030-01-01T01:00:00Z'));
      expect(u.executed_at!.getTime()).toBeLessThan(Date.parse('2030-01-01T01:10:00Z'));
    }

    // The window closed again: the next target downloads but waits for the next opening.
    clock.advanceTo(Date.parse('2030-01-01T01:20:00Z'));
    await scene.ws.writeManifest('fleet.yaml', windowed(v3, v2));
    await afterPassWhen(
      controller,
      async () =>
        (await countWhere(
          scene!.db,
          'firmware_updates',
          sql<boolean>`phase = 'downloaded' and target_version = '3.0.0'`,
        )) === 4,
    );
    await settle(controller);
    expect(await countWhere(scene.db, 'events', sql<boolean>`type = 'UpdateExecuted'`)).toBe(4);
    expect(await planText(scene, clock.now())).toContain('(opens 2030-01-01T02:00:00.000Z)');

    clock.advanceTo(Date.parse('2030-01-01T02:00:30Z'));
    controller.reconciler.trigger();
    await afterPassWhen(
      controller,
      async () => (await countWhere(scene!.db, 'devices', sql<boolean>`firmware_version = '3.0.0'`)) === 4,
    );
    expect(fleet.devices.map((d) => d.firmwareVersion)).toEqual(['3.0.0', '3.0.0', '3.0.0', '3.0.0']);
  });
});
