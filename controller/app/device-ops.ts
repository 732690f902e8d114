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
    writePackageUri: async (endpoint, uri) =>
      counted('write', await lwm2m.server.device(endpoint).write('/5/0/1', uri)),
    executeUpdate: async (endpoint) =>
      counted('execute', await lwm2m.server.device(endpoint).execute('/5/0/2')),
    cancelUpdate: async (endpoint) =>
      counted('execute', await lwm2m.server.device(endpoint).execute('/5/0/10')),
    pollFirmwareState: async (endpoint) => {
      const read = await devices.sync.readFirmwareState(endpoint);
      return read.kind === 'ok' ? { state: read.state, result: read.result } : undefined;
    },
    readFirmwareVersion: async (endpoint) => {
      await devices.sync.readFirmwareVersion(endpoint);
    },
    readErrorCode: async (endpoint, how) => {
      await (how === 'observe'
        ? devices.sync.followErrorCode(endpoint)
        : devices.sync.readErrorCode(endpoint));
    },
  };
}
