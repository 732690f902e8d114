import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceDetailView } from '../../controller/api/read-model/views.js';
import { renderHistory } from '../../controller/api/report/index.js';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, Scene, updatesOf } from '../helpers/rollout-fixture.js';

const pglite = testBackends[0]!;

async function deviceView(scene: Scene, endpoint: string): Promise<DeviceDetailView> {
  const res = await fetch(`http://127.0.0.1:${scene.controller.httpPort}/api/v1/devices/${endpoint}`);
  expect(res.status).toBe(200);
  return (await res.json()) as DeviceDetailView;
}

describe('devices that need the controller to recover them', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('a device that restarts idle mid-download fails with Result 4 at its Register, not at the timeout, and the retry succeeds', async () => {
    scene = await Scene.create(pglite);
    const { controller } = await scene.startRollout({
      rollout: 'reboots',
      // The default download timeout (30 min) would be the only way out without the Register check.
      spec: `  strategy:
    failureThreshold: { percent: 100, minUpdates: 1000 }
  retries: { max: 1, backoff: 1s }
`,
    });
    await scene.addFleet({ count: 1, faults: 'reboot-mid-download=1' });
    const startedAt = Date.now();
    await afterPassWhen(controller, (pass) => pass.plans.get('reboots')?.status.counts.upToDate === 1);
    expect(Date.now() - startedAt).toBeLessThan(60_000);

    const [lost, retry] = await updatesOf(scene.db, 'sim-000001');
    expect(lost).toMatchObject({ phase: 'failed', result: 4, retryable: true, attempt: 1 });
    expect(lost!.failure_reason).toMatch(/restarted \(registered again, State 0\) and lost the download/);
    expect(retry).toMatchObject({ phase: 'succeeded', attempt: 2 });
    const failed = await scene.db
      .selectFrom('events')
      .select('message')
      .where('update_id', '=', lost!.id)
      .where('type', '=', 'UpdateFailed')
      .executeTakeFirstOrThrow();
    expect(failed.message).toMatch(/lost the download \(will retry\)$/);
    expect(renderHistory(await deviceView(scene, 'sim-000001'))).toMatch(
      /result 4 connection lost.*restarted/,
    );
  });
});
