import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceDetailView } from '../../controller/api/read-model/views.js';
import { renderHistory } from '../../controller/api/report/index.js';
import type { ControllerConfig } from '../../controller/app/start-controller.js';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, rolloutManifests, Scene, updatesOf } from '../helpers/rollout-fixture.js';
import { parseExposition } from '../metrics/exposition.js';
import { StrictFirmwareDevice } from './support/strict-firmware-device.js';

const pglite = testBackends[0]!;

const ONE_ATTEMPT = `  strategy:
    failureThreshold: { percent: 100, minUpdates: 1000 }
  retries: { max: 0 }
`;

async function deviceView(scene: Scene, endpoint: string): Promise<DeviceDetailView> {
  const res = await fetch(`http://127.0.0.1:${scene.controller.httpPort}/api/v1/devices/${endpoint}`);
  expect(res.status).toBe(200);
  return (await res.json()) as DeviceDetailView;
}

async function updateEvents(scene: Scene, endpoint: string) {
  return scene.db
    .selectFrom('events')
    .select(['type', 'message', 'details'])
    .where('endpoint', '=', endpoint)
    .where('update_id', 'is not', null)
    .orderBy('id')
    .execute();
}

/** Rollout `refused` of the devices strict-*, one attempt each. */
async function startRefusedRollout(scene: Scene, controller: Partial<ControllerConfig> = {}) {
  const started = await scene.startRollout({
    rollout: 'refused',
    pattern: 'strict-*',
    spec: ONE_ATTEMPT,
    controller,
  });
  return started.controller;
}

/** A device on 1.0.0, Idle, that answers every Package URI write 4.05. */
function refusingDevice(serverPort: number, endpoint: string): Promise<StrictFirmwareDevice> {
  return StrictFirmwareDevice.start({
    serverPort,
    endpoint,
    model: 'SIM1',
    version: '1.0.0',
    state: 0,
    result: 0,
    uriPolicy: { refuseWith: '4.05' },
  });
}

describe('Package URI writes a device refuses', () => {
  let scene: Scene | undefined;
  const devices: StrictFirmwareDevice[] = [];
  afterEach(async () => {
    for (const d of devices.splice(0)) await d.close();
    await scene?.close();
    scene = undefined;
  });

  it('records the refused URI, the CoAP code and the device state in the row, the event, the API and history', async () => {
    scene = await Scene.create(pglite);
    const controller = await startRefusedRollout(scene);
    const device = await refusingDevice(controller.coapPort!, 'strict-1');
    devices.push(device);
    await afterPassWhen(controller, async () =>
      (await updatesOf(scene!.db, 'strict-1')).some((u) => u.finished_at),
    );

    const [row] = await updatesOf(scene.db, 'strict-1');
    const uri = device.writes[0]!.uri;
    expect(uri).toMatch(/sim1-2\.0\.0\.bin/);
    expect(row).toMatchObject({
      phase: 'failed',
      package_uri: uri,
      refusal_code: '4.05',
      refusal_state: 0,
      refusal_result: 0,
    });
    expect(row!.refused_at).toBeInstanceOf(Date);
    // 4.05: the resource is not writable; no other attempt would fare better.
    expect(row!.retryable).toBe(false);
    expect(row!.failure_reason).toContain('the Package URI resource is not writable');
    // The reason names the code and what the device was doing; the URI is on the row (above).
    expect(row!.failure_reason).toContain('4.05 (device State 0');
    expect(row!.failure_reason).not.toContain(uri);
    expect(device.writes.map((w) => w.code)).toEqual(['4.05']);

    const failed = (await updateEvents(scene, 'strict-1')).find((e) => e.type === 'UpdateFailed');
    expect(failed?.details).toMatchObject({
      refusal: { uri, code: '4.05', deviceState: 0, deviceResult: 0 },
    });

    const view = await deviceView(scene, 'strict-1');
    expect(view.updates[0]?.refusal).toMatchObject({
      code: '4.05',
      uri,
      deviceState: 0,
      deviceStateText: 'idle',
      deviceResult: 0,
    });
    expect(renderHistory(view)).toContain(
      `Package URI refused: 4.05 for ${uri} · device state 0 idle · result 0`,
    );
  });

  it('counts refusals of signed per-device URIs under one reason label, the URIs staying in the rows', async () => {
    scene = await Scene.create(pglite);
    const controller = await startRefusedRollout(scene, { signedUrlTtlSeconds: 3_600 });
    for (const endpoint of ['strict-1', 'strict-2']) {
      devices.push(await refusingDevice(controller.coapPort!, endpoint));
    }
    await afterPassWhen(
      controller,
      async () => (await updatesOf(scene!.db)).filter((u) => u.finished_at).length === 2,
    );

    // Each device was sent its own signed URI, kept on its row; the reasons, grouped and counted
    // ("failed by reason"), do not quote it, so the two refusals read as one reason.
    const rows = await updatesOf(scene.db);
    const uris = devices.map((d) => d.writes[0]!.uri);
    expect(new Set(uris).size).toBe(2);
    expect(rows.map((r) => r.phase)).toEqual(['failed', 'failed']);
    expect(new Set(rows.map((r) => r.package_uri))).toEqual(new Set(uris));
    expect(new Set(rows.map((r) => r.failure_reason)).size).toBe(1);

    const res = await fetch(`http://127.0.0.1:${controller.httpPort}/metrics`);
    const finished = parseExposition(await res.text()).filter(
      (s) => s.name === 'otactl_updates_finished_total',
    );
    expect(finished).toEqual([
      {
        name: 'otactl_updates_finished_total',
        labels: { rollout: 'refused', outcome: 'failed', reason: 'uri-refused' },
        value: 2,
      },
    ]);
  });

  it('resets a device left in Downloaded after a failed install (empty URI: no Cancel), waits for Idle, then writes', async () => {
    scene = await Scene.create(pglite);
    const s = scene;
    // Suspended until the controller has stored the device's State 2: the install failed before
    // this rollout, so the state is known when the update begins. (A State first reported after
    // the update began takes the refusal path of the next test.)
    const { controller, target } = await s.startRollout({
      rollout: 'stuck',
      pattern: 'strict-*',
      spec: `  suspend: true\n${ONE_ATTEMPT}`,
    });
    const device = await StrictFirmwareDevice.start({
      serverPort: controller.coapPort!,
      endpoint: 'strict-2',
      model: 'SIM1',
      version: '1.0.0',
      state: 2,
      result: 8,
      uriPolicy: 'idle-only',
    });
    devices.push(device);
    await afterPassWhen(controller, async () => {
      const stored = await s.db
        .selectFrom('devices')
        .select('fw_state')
        .where('endpoint', '=', 'strict-2')
        .executeTakeFirst();
      return stored?.fw_state === 2;
    });
    await s.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({ firmware: target, rollout: 'stuck', pattern: 'strict-*', spec: ONE_ATTEMPT }),
    );
    await afterPassWhen(controller, (pass) => pass.plans.get('stuck')?.status.counts.upToDate === 1);

    const [row] = await updatesOf(scene.db, 'strict-2');
    expect(row).toMatchObject({ phase: 'succeeded', refusal_code: null });
    expect(row!.reset_at).toBeInstanceOf(Date);
    // Reset first (it never saw the URI while not Idle), then the URI.
    expect(device.writes.map((w) => [w.uri === '' ? 'empty' : 'uri', w.code])).toEqual([
      ['empty', '2.04'],
      ['uri', '2.04'],
    ]);
    expect(device.version).toBe('2.0.0');
    const types = (await updateEvents(scene, 'strict-2')).map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['UpdateStarted', 'DeviceReset', 'PackageUriWritten']);
    expect(types.at(-1)).toBe('UpdateSucceeded');
    expect(renderHistory(await deviceView(scene, 'strict-2'))).toContain(
      'reset to Idle before the Package URI write',
    );
  });

  it('answered 4.00 by a device that is not Idle after all: records it, resets the device, and writes again once', async () => {
    scene = await Scene.create(pglite);
    const { controller } = await scene.startRollout({
      rollout: 'stale',
      pattern: 'strict-*',
      spec: ONE_ATTEMPT,
    });
    // Its last report said Idle; it really is in Downloaded (Result 8), and refuses the URI as Anjay does.
    const device = await StrictFirmwareDevice.start({
      serverPort: controller.coapPort!,
      endpoint: 'strict-3',
      model: 'SIM1',
      version: '1.0.0',
      state: 2,
      result: 8,
      uriPolicy: 'idle-only',
      reportedStateBeforeFirstWrite: 0,
    });
    devices.push(device);
    await afterPassWhen(controller, (pass) => pass.plans.get('stale')?.status.counts.upToDate === 1);

    const [row] = await updatesOf(scene.db, 'strict-3');
    const uri = device.writes[0]!.uri;
    expect(row).toMatchObject({
      phase: 'succeeded',
      package_uri: uri,
      refusal_code: '4.00',
      refusal_state: 2,
      refusal_result: 8,
    });
    expect(device.writes.map((w) => [w.uri === '' ? 'empty' : 'uri', w.code])).toEqual([
      ['uri', '4.00'],
      ['empty', '2.04'],
      ['uri', '2.04'],
    ]);
    const events = await updateEvents(scene, 'strict-3');
    expect(events.map((e) => e.type).slice(0, 4)).toEqual([
      'UpdateStarted',
      'PackageUriRefused',
      'DeviceReset',
      'PackageUriWritten',
    ]);
    expect(events[1]!.details).toMatchObject({ refusal: { code: '4.00', deviceState: 2, deviceResult: 8 } });
    expect(renderHistory(await deviceView(scene, 'strict-3'))).toContain('Package URI refused: 4.00 for');
  });
});
