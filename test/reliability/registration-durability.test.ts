import { afterEach, describe, expect, it } from 'vitest';
import { SimDevice } from '../../controller/sim/index.js';
import { pgliteProcessDatabase } from './harness/databases.js';
import { ProcessScene } from './harness/process-scene.js';

describe('a registration the controller answered', () => {
  let scene: ProcessScene | undefined;
  let device: SimDevice | undefined;
  afterEach(async () => {
    await device?.stop();
    await scene?.close();
    scene = undefined;
  });

  // Found here: the server used to answer 2.01 before device-sync wrote the row (batched up to
  // 25 ms later), so a SIGKILL in that instant lost the registration until the device's next
  // Update. Now a Register is committed before it is answered (Lwm2mServer's beforeAnswer).
  it('is still known after the controller is killed right after answering', async () => {
    scene = await ProcessScene.create({ db: await pgliteProcessDatabase() });
    const victim = await scene.startController();
    device = new SimDevice({
      endpoint: 'durable-000001',
      server: { address: '127.0.0.1', port: scene.options.coapPort },
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

    const controller = await scene.startController();
    const res = await controller.get('/api/v1/devices/durable-000001');
    await res.arrayBuffer();
    expect(res.status).toBe(200);
  });
});
