import type { ChangeResult } from '../lwm2m/index.js';

/** What the reconciler asks of a device; the LwM2M server (and device sync) provide it. */
export interface DeviceOps {
  /** Write 5/0/1; an empty URI withdraws a download (resets State to Idle). */
  writePackageUri(endpoint: string, uri: string): Promise<ChangeResult>;
  /** Execute 5/0/2. */
  executeUpdate(endpoint: string): Promise<ChangeResult>;
  /** Read 5/0/3 and 5/0/5 now and store them (a followed value went quiet). */
  pollFirmwareState(endpoint: string): Promise<void>;
  /** Read 3/0/3 now and store it (the device reported success without re-registering). */
  readFirmwareVersion(endpoint: string): Promise<void>;
}

export type PackageUriChoice =
  | { readonly ok: true; readonly uri: string }
  | { readonly ok: false; readonly reason: string; readonly permanent: boolean };
