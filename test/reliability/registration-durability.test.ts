import { afterEach, describe, expect, it } from 'vitest';
import { SimDevice } from '../../controller/sim/index.js';
import { createWorkspace, type Workspace } from '../helpers/rollout-fixture.js';
import { ControllerProcess } from './harness/controller-process.js';
import { type ProcessDatabase, pgliteProcessDatabase } from './harness/databases.js';
import { freeTcpPort, freeUdpPort } from './harness/free-port.js';

describe('a registration the controller answered', () => {
  let db: ProcessDatabase | undefined;
  let ws: Workspace | undefined;
  let controller: ControllerProcess | undefined;
  let device: SimDevice | undefined;
  afterEach(async () => {
    await device?.stop();
    await controller?.kill('SIGKILL');
    await db?.drop();
    await ws?.cleanup();
  });

  // Found here: the server used to answer 2.01 before device-sync wrote the row (batched up to
  // 25 ms later), so a SIGKILL in that instant lost the registration until the device's next
  // Update. Now a Register is committed before it is answered (Lwm2mServer's beforeAnswer).
  it('is still known after the controller is killed right after answering', async () => {
    db = await pgliteProcessDatabase();
    ws = await createWorkspace();
    const options = {
      db: db.spec,
      manifestsDir: ws.manifestsDir,
      firmwareDir: ws.firmwareDir,
      coapPort: await freeUdpPort(),
      httpPort: await freeTcpPort(),
    };
    controller = await ControllerProcess.start(options);
    const victim = controller;
    device = new SimDevice({
      endpoint: 'durable-000001',
      server: { address: '127.0.0.1', port: options.coapPort },
      model: 'SIM1',
      version: '1.0.0',
      bindAddress: '127.0.0.1',
      onEvent: (event) => {
        if (event.kind === 'registered') victim.kill('SIGKILL');
      },
    });
    await device.start();
    expect(device.registered).toBe(true);
    await victim.exited;

    controller = await ControllerProcess.start(options);
    const res = await controller.get('/api/v1/devices/durable-000001');
    await res.arrayBuffer();
    expect(res.status).toBe(200);
  });
});
