import { afterEach, describe, expect, it } from 'vitest';
import { formatPlan } from '../../controller/cli/commands/plan.js';
import type { RolloutPlanReport } from '../../controller/reconcile/report/plan-report.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  firmwareManifest,
  groupManifest,
  rolloutManifest,
  Scene,
} from '../helpers/rollout-fixture.js';

describe('a running controller', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('answers /api/v1/plan and the API with what the database holds after a canary step', async () => {
    scene = await Scene.create(testBackends[0]!);
    const target = await scene.ws.addFirmware('1.1.0');
    await scene.ws.writeManifest(
      'fleet.yaml',
      [firmwareManifest(target), groupManifest('sims', 'sim-*')].join('---\n'),
    );
    const controller = await scene.startController();
    await scene.addFleet({ count: 10 });
    const db = scene.db;
    // The canary share is a share of the group's current members: let all ten report first.
    await scene.devicesKnown(10);
    await scene.ws.writeManifest(
      'canary.yaml',
      rolloutManifest({
        name: 'canary',
        group: 'sims',
        firmware: target.name,
        extra: '  strategy:\n    steps:\n      - percent: 20\n        pause: manual\n      - percent: 100\n',
      }),
    );
    await afterPassWhen(controller, async () => {
      const row = await db
        .selectFrom('rollouts')
        .select('phase')
        .where('name', '=', 'canary')
        .executeTakeFirst();
      return row?.phase === 'Paused';
    });
    const base = `http://127.0.0.1:${controller.httpPort}`;
    const plan = (await (await fetch(`${base}/api/v1/plan`)).json()) as RolloutPlanReport[];
    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatchObject({
      name: 'canary',
      targetVersion: '1.1.0',
      status: { phase: 'Paused', currentStep: 0 },
    });
    expect(plan[0]!.status.counts).toMatchObject({ selected: 10, upToDate: 2, succeeded: 2 });
    expect(plan[0]!.waits).toContainEqual({ kind: 'approval', step: 0, approvedNeeded: 1 });
    expect(formatPlan(plan)).toMatch(
      /step 2 waits for approval: set spec.strategy.approved to 1 in a commit/,
    );

    const rollouts = (await (await fetch(`${base}/api/v1/rollouts`)).json()) as {
      rollouts: { name: string; phase: string }[];
    };
    expect(rollouts.rollouts.map((r) => [r.name, r.phase])).toEqual([['canary', 'Paused']]);
    const updated = await db
      .selectFrom('devices')
      .select('endpoint')
      .where('firmware_version', '=', '1.1.0')
      .execute();
    expect(updated).toHaveLength(2);
    const device = (await (await fetch(`${base}/api/v1/devices/${updated[0]!.endpoint}`)).json()) as {
      endpoint: string;
      firmwareVersion: string;
    };
    expect(device).toMatchObject({ endpoint: updated[0]!.endpoint, firmwareVersion: '1.1.0' });
    const downloads = (await (await fetch(`${base}/api/v1/downloads`)).json()) as {
      inProgress: unknown[];
      bytesByFile: Record<string, number>;
    };
    expect(downloads.inProgress).toEqual([]);
    // Two canaries downloaded the whole image (a 2 KiB payload behind its header) once each.
    expect(downloads.bytesByFile[target.file]).toBeGreaterThan(2 * 2048);
    expect(downloads.bytesByFile[target.file]! % 2).toBe(0);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/otactl_updates_started_total\{rollout="canary"\} 2/);
  });
});
