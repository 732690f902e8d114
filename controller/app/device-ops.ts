import type { Metrics } from '../metrics/index.js';
import type { ExecutorDeps } from '../reconcile/index.js';

/** What the reconciler asks of devices. */
type DeviceOps = ExecutorDeps['ops'];

import type { DeviceSyncPart } from './device-sync-part.js';
import type { Lwm2mPart } from './lwm2m-part.js';

/** What the reconciler asks of devices, over the LwM2M server; each request counted by outcome. */
export function deviceOps(lwm2m: Lwm2mPart, devices: DeviceSyncPart, metrics: Metrics): DeviceOps {
  const counted = <T extends { readonly kind: string }>(method: string, result: T): T => {
    const outcome =
      result.kind === 'invalid' ? 'error' : (result.kind as 'ok' | 'error' | 'timeout' | 'unreachable');
    metrics.coapRequests.inc({ method, outcome });
    return result;
  };
  return {
    writePackageUri: async (endpoint, uri, gate) =>
      counted('write', await lwm2m.server.device(endpoint, gate).write('/5/0/1', uri)),
    executeUpdate: async (endpoint, gate) =>
      counted('execute', await lwm2m.server.device(endpoint, gate).execute('/5/0/2')),
    cancelUpdate: async (endpoint, gate) =>
      counted('execute', await lwm2m.server.device(endpoint, gate).execute('/5/0/10')),
    pollFirmwareState: async (endpoint, gate) => {
      const read = await devices.sync.readFirmwareState(endpoint, gate);
      return read.kind === 'ok' ? { state: read.state, result: read.result } : undefined;
    },
    readFirmwareVersion: async (endpoint, gate) => {
      await devices.sync.readFirmwareVersion(endpoint, gate);
    },
    readErrorCode: async (endpoint, how, gate) => {
      await (how === 'observe'
        ? devices.sync.followErrorCode(endpoint, gate)
        : devices.sync.readErrorCode(endpoint, gate));
    },
  };
}
