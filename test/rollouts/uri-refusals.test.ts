import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceDetailView } from '../../controller/api/read-model/views.js';
import { renderHistory } from '../../controller/api/report/index.js';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, Scene, updatesOf } from '../helpers/rollout-fixture.js';
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
    const { controller } = await scene.startRollout({
      rollout: 'refused',
      pattern: 'strict-*',
      spec: ONE_ATTEMPT,
    });
    const device = await StrictFirmwareDevice.start({
      serverPort: controller.coapPort,
      endpoint: 'strict-1',
      model: 'SIM1',
      version: '1.0.0',
      state: 0,
      result: 0,
      uriPolicy: { refuseWith: '4.05' },
    });
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
    expect(row!.failure_reason).toContain(`4.05 for ${uri}`);

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
});
