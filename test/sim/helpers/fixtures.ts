import { packImage } from '../../../controller/firmware/image/index.js';
import { SimDevice, type SimDeviceOptions } from '../../../controller/sim/device/index.js';
import type { DeviceEvent } from '../../../controller/sim/device-events.js';
import type { TestLwm2mServer } from './test-lwm2m-server.js';

export const MODEL = 'T3';
export const OLD = '1.0.0';
export const NEW = '2.0.0';

export const goodImage = packImage({ version: NEW, model: MODEL, payload: Buffer.alloc(5000, 7) });
export const otherModelImage = packImage({ version: NEW, model: 'X9', payload: Buffer.alloc(100, 1) });

export const FAST_TIMING = {
  ackTimeoutMs: 200,
  ackRandomFactor: 1,
  maxRetransmit: 3,
  responseTimeoutMs: 5000,
};

/** A device with an event log and a way to wait for an event. */
export interface TestDevice {
  readonly device: SimDevice;
  readonly events: DeviceEvent[];
  waitFor(match: (e: DeviceEvent) => boolean): Promise<DeviceEvent>;
  /** Waits until 5/0/3 and 5/0/5 reach the given values (as reported by a 'state' event or already). */
  settles(state: number, result: number): Promise<void>;
}

let counter = 0;

export function uniqueEndpoint(prefix = 'dev'): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}`;
}

export async function startDevice(
  server: TestLwm2mServer,
  options: Partial<SimDeviceOptions> = {},
): Promise<TestDevice> {
  const events: DeviceEvent[] = [];
  const listeners: ((e: DeviceEvent) => void)[] = [];
  const device = new SimDevice({
    endpoint: uniqueEndpoint(),
    server: { address: '127.0.0.1', port: server.port },
    model: MODEL,
    version: OLD,
    bindAddress: '127.0.0.1',
    timing: FAST_TIMING,
    ...options,
    onEvent: (e) => {
      events.push(e);
      for (const l of [...listeners]) l(e);
    },
  });
  const registered = server.registered(device.endpoint);
  await device.start();
  await registered;
  const waitFor = (match: (e: DeviceEvent) => boolean) =>
    new Promise<DeviceEvent>((resolve) => {
      const l = (e: DeviceEvent) => {
        if (!match(e)) return;
        listeners.splice(listeners.indexOf(l), 1);
        resolve(e);
      };
      listeners.push(l);
    });
  return {
    device,
    events,
    waitFor,
    settles: async (state, result) => {
      if (device.state === state && device.result === result) return;
      await waitFor((e) => e.kind === 'state' && e.state === state && e.result === result);
    },
  };
}
