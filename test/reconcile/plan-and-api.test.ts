import { afterEach, describe, expect, it } from 'vitest';
import type { Controller } from '../../controller/app/start-controller.js';
import { formatPlan } from '../../controller/cli/commands/plan.js';
import type { RolloutPlanReport } from '../../controller/reconcile/plan-report.js';
import { type Fleet, startFleet } from '../../controller/sim/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  createWorkspace,
  firmwareManifest,
  groupManifest,
  rolloutManifest,
  startTestController,
  type Workspace,
} from '../helpers/rollout-fixture.js';

describe('a running controller', () => {
  let store: OpenDatabase | undefined;
  let ws: Workspace | undefined;
  let controller: Controller | undefined;
  let fleet: Fleet | undefined;
  afterEach(async () => {
    await fleet?.stop();
    await controller?.stop();
    await store?.close();
    await ws?.cleanup();
  });

  it('answers /api/v1/plan and the API with what the database holds after a canary step', async () => {
    store = await testBackends[0]!.open();
    ws = await createWorkspace();
    const target = await ws.addFirmware('1.1.0');
    await ws.writeManifest(
      'fleet.yaml',
      [firmwareManifest(target), groupManifest('sims', 'sim-*')].join('---\n'),
    );
    controller = await startTestController(store, ws);
    fleet = await startFleet({
      server: `coap://127.0.0.1:${controller.coapPort}`,
      count: 10,
      prefix: 'sim-',
      version: '1.0.0',
      model: 'SIM1',
      protocols: [2],
      staggerMs: 0,
    });
    const db = store.db;
    // The canary share is a share of the group's current members: let all ten report first.
    await afterPassWhen(controller, async () => {
      const rows = await db
        .selectFrom('devices')
        .select('id')
        .where('info_read_at', 'is not', null)
        .execute();
      return rows.length === 10;
    });
    await ws.writeManifest(
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
