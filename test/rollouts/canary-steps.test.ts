import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { formatPlan } from '../../controller/cli/commands/plan.js';
import { loadDesiredState } from '../../controller/manifests/index.js';
import { buildPlanReport } from '../../controller/reconcile/report/plan-report.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  canaryOrder,
  countWhere,
  createTestClock,
  firmwareManifest,
  groupManifest,
  rolloutManifests,
  rolloutRow,
  Scene,
  settle,
} from '../helpers/rollout-fixture.js';
import { sizeFromEnv } from '../reliability/harness/seeded-random.js';

const pglite = testBackends[0]!;
// The fleet of the 3-step canary: OTACTL_CANARY_DEVICES=200 runs the 200 it was written with. CI
// runs 100: the steps are still 5%, 50% and 100% of the fleet (5, 50, 100 devices), each under
// maxInFlight, so the same pauses and canary sets are checked (7.6 s instead of 11.4 s).
const DEVICES = sizeFromEnv('OTACTL_CANARY_DEVICES', 100);
if (DEVICES % 20 !== 0) throw new Error('OTACTL_CANARY_DEVICES must be a multiple of 20 (5% of it whole)');
const CANARIES = DEVICES / 20;
const HALF = DEVICES / 2;

async function updatedEndpoints(scene: Scene): Promise<string[]> {
  const rows = await scene.db
    .selectFrom('firmware_updates')
    .select('endpoint')
    .distinct()
    .orderBy('endpoint')
    .execute();
  return rows.map((r) => r.endpoint);
}

async function succeededPerDevice(scene: Scene): Promise<number[]> {
  const rows = await sql<{ n: number }>`
    select count(*) filter (where phase = 'succeeded') as n from firmware_updates group by endpoint`.execute(
    scene.db,
  );
  return rows.rows.map((r) => Number(r.n));
}

function sorted(list: readonly string[]): string[] {
  return [...list].sort();
}

describe('a staged canary rollout', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it(`stops at each pause of a 3-step canary over ${DEVICES} devices: 5% manual, 50% timed, then 100%`, async () => {
    scene = await Scene.create(pglite);
    const clock = createTestClock();
    const target = await scene.ws.addFirmware('2.0.0');
    const canary = (approved: number) =>
      rolloutManifests({
        firmware: target,
        rollout: 'canary',
        spec: `  strategy:
    steps:
      - { percent: 5, pause: manual }
      - { percent: 50, pause: 10m }
      - { percent: 100 }
    approved: ${approved}
    maxInFlight: 100
    failureThreshold: { percent: 100, minUpdates: 1000 }
`,
      });
    // The fleet is known before the rollout exists.
    await scene.ws.writeManifest(
      'fleet.yaml',
      [firmwareManifest(target), groupManifest('sims', 'sim-*')].join('---\n'),
    );
    const controller = await scene.startController({ clock: clock.now });
    const fleet = await scene.addFleet({ count: DEVICES });
    await scene.devicesKnown(DEVICES);
    const order = canaryOrder(
      'canary',
      fleet.devices.map((d) => d.endpoint),
    );

    // The canary set can be named in advance: `otactl plan` on the Rollout before it is applied.
    const preview = join(scene.ws.dir, 'preview');
    await mkdir(preview);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(preview, 'fleet.yaml'), canary(0));
    const loaded = await loadDesiredState(preview, { firmwareDir: scene.ws.firmwareDir, git: false });
    if (!loaded.ok) throw new Error('preview manifests invalid');
    const [before] = await buildPlanReport(scene.db, loaded.state, clock.now());
    expect(before?.startsNext).toEqual({ count: CANARIES, endpoints: order.slice(0, CANARIES) });
    expect(formatPlan([before!])).toContain(
      `starts next: ${CANARIES} (${order.slice(0, CANARIES).join(', ')})`,
    );

    await scene.ws.writeManifest('fleet.yaml', canary(0));
    // Step 1: exactly the canaries (5%), then a manual pause.
    await afterPassWhen(controller, async () => (await rolloutRow(scene!.db, 'canary'))?.phase === 'Paused');
    await settle(controller);
    expect(await updatedEndpoints(scene)).toEqual(sorted(order.slice(0, CANARIES)));
    const paused = await rolloutRow(scene.db, 'canary');
    expect(paused).toMatchObject({ current_step: 0, phase: 'Paused' });
    expect(paused?.paused_reason).toBe('waiting for approval of step 2: raise spec.strategy.approved to 1');
    const [atApproval] = await buildPlanReport(scene.db, controller.desired()!, clock.now());
    expect(atApproval?.waits).toContainEqual({ kind: 'approval', step: 0, approvedNeeded: 1 });
    expect(formatPlan([atApproval!])).toContain(
      'waits: step 2 waits for approval: set spec.strategy.approved to 1 in a commit',
    );
    expect(atApproval?.startsNext.count).toBe(0);

    // Approval by commit: raise `approved`. Step 2 takes the next ones in canary order up to half
    // the fleet, then pauses 10 minutes.
    await scene.ws.writeManifest('fleet.yaml', canary(1));
    await afterPassWhen(controller, async () => {
      const row = await rolloutRow(scene!.db, 'canary');
      return row?.current_step === 1 && row.phase === 'Paused';
    });
    await settle(controller);
    expect(await updatedEndpoints(scene)).toEqual(sorted(order.slice(0, HALF)));
    const [atPause] = await buildPlanReport(scene.db, controller.desired()!, clock.now());
    const pause = atPause?.waits.find((w) => w.kind === 'pause');
    expect(pause).toMatchObject({ kind: 'pause', step: 1 });
    expect(formatPlan([atPause!])).toContain(
      `waits: pause after step 2 until ${new Date((pause as { until: number }).until).toISOString()}`,
    );

    clock.advance(10 * 60_000 + 1_000);
    controller.reconciler.trigger();
    await afterPassWhen(
      controller,
      async () => (await rolloutRow(scene!.db, 'canary'))?.phase === 'Completed',
    );
    expect(await countWhere(scene.db, 'devices', sql<boolean>`firmware_version = '2.0.0'`)).toBe(DEVICES);
    expect(await succeededPerDevice(scene)).toEqual(Array(DEVICES).fill(1));
    const steps = await scene.db
      .selectFrom('events')
      .select('message')
      .where('type', 'in', ['StepStarted', 'StepCompleted'])
      .orderBy('id')
      .execute();
    expect(steps.map((e) => e.message)).toEqual([
      'step 1 of 3 started (5%)',
      'step 1 of 3 completed',
      'step 2 of 3 started (50%)',
      'step 2 of 3 completed',
      'step 3 of 3 started (100%)',
      'step 3 of 3 completed',
    ]);
  }, 150_000);

  it('keeps the same canary set across a controller restart in the middle of a step', async () => {
    scene = await Scene.create(pglite);
    const first = await scene.startController();
    const fleet = await scene.addFleet({ count: 40 });
    // The Rollout lands once every device is known, so the step's share is of the whole group.
    await scene.devicesKnown(40);
    await scene.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({
        firmware: await scene.ws.addFirmware('2.0.0'),
        rollout: 'steady',
        spec: `  strategy:
    steps: [{ percent: 25, pause: manual }, { percent: 100 }]
    maxInFlight: 3
  retries: { max: 2, backoff: 200ms }
`,
      }),
    );
    const canaries = canaryOrder(
      'steady',
      fleet.devices.map((d) => d.endpoint),
    ).slice(0, 10);
    await afterPassWhen(
      first,
      async () => (await countWhere(scene!.db, 'firmware_updates', sql<boolean>`phase = 'succeeded'`)) >= 3,
    );
    const second = await scene.restartController();
    expect((await updatedEndpoints(scene)).length).toBeLessThan(10);

    await afterPassWhen(second, async () => (await rolloutRow(scene!.db, 'steady'))?.phase === 'Paused');
    await settle(second);
    expect(await updatedEndpoints(scene)).toEqual(sorted(canaries));
    expect(await succeededPerDevice(scene)).toEqual(Array(10).fill(1));
  });
});
