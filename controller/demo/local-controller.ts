import { type Controller, type ControllerConfig, startController } from '../app/start-controller.js';
import type { OpenDatabase } from '../store/index.js';

/**
 * A controller on loopback for simulated devices on the same machine (the demo, the bench, the
 * soak run and tests): CoAP and HTTP on ports the system picks, Package URIs to 127.0.0.1, and a
 * per-address download bound that does not throttle a fleet sharing one address. `overrides`
 * replace any of these settings.
 */
export function localControllerConfig(
  dirs: { readonly manifestsDir: string; readonly firmwareDir: string },
  overrides: Partial<ControllerConfig> = {},
): Omit<ControllerConfig, 'store'> {
  return {
    manifestsDir: dirs.manifestsDir,
    firmwareDir: dirs.firmwareDir,
    coapPort: 0,
    coapHost: '127.0.0.1',
    httpPort: 0,
    httpHost: '127.0.0.1',
    publicHost: '127.0.0.1',
    manifestDebounceMs: 50,
    maxDownloadsPerClient: 10_000,
    ...overrides,
  };
}

/** Starts a controller on loopback (see localControllerConfig) on `store`. */
export function startLocalController(
  store: OpenDatabase,
  dirs: { readonly manifestsDir: string; readonly firmwareDir: string },
  overrides: Partial<ControllerConfig> = {},
): Promise<Controller> {
  return startController({ store, ...localControllerConfig(dirs, overrides) });
}
