import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceDetailView } from '../../controller/api/read-model/views.js';
import { renderHistory } from '../../controller/api/report/index.js';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, rolloutManifests, Scene, updatesOf } from '../helpers/rollout-fixture.js';

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

  it('a device left in Downloaded by a failed install is cancelled (5/0/10) back to Idle before the fixed firmware is written', async () => {
    scene = await Scene.create(pglite);
    const spec = `  strategy:
    failureThreshold: { percent: 100, minUpdates: 1000 }
  retries: { max: 0 }
`;
    const { controller, target: bad } = await scene.startRollout({ rollout: 'fix', spec });
    await scene.addFleet({ count: 1, faults: 'stuck-downloaded=1' });
    await afterPassWhen(controller, async () =>
      (await updatesOf(scene!.db, 'sim-000001')).some((u) => u.finished_at),
    );
    const fleet = scene.fleets[0]!;
    expect(fleet.devices[0]!.state).toBe(2);

    // The rollout now points at fixed firmware: the device must be reset before its URI is written.
    const fixed = await scene.ws.addFirmware('2.0.1');
    await scene.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({ firmware: fixed, extraFirmware: [bad], rollout: 'fix', spec }),
    );
    await afterPassWhen(controller, (pass) => pass.plans.get('fix')?.status.counts.upToDate === 1);

    const [failed, fixedUpdate] = await updatesOf(scene.db, 'sim-000001');
    expect(failed).toMatchObject({ phase: 'failed', target_version: '2.0.0' });
    expect(fixedUpdate).toMatchObject({ phase: 'succeeded', target_version: '2.0.1', refusal_code: null });
    expect(fixedUpdate!.reset_at).toBeInstanceOf(Date);
    const events = await scene.db
      .selectFrom('events')
      .select(['type', 'message'])
      .where('update_id', '=', fixedUpdate!.id)
      .orderBy('id')
      .execute();
    expect(events.map((e) => e.type).slice(0, 3)).toEqual([
      'UpdateStarted',
      'DeviceReset',
      'PackageUriWritten',
    ]);
    expect(events[1]!.message).toContain('Cancel 5/0/10');
    expect(events[1]!.message).toContain('State 2 downloaded');
  });
});
