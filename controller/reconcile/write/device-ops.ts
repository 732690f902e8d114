import type { ChangeResult, RequestGate } from '../../lwm2m/index.js';

/**
 * What the reconciler asks of a device; the LwM2M server (and device sync) provide it. `gate`:
 * what the request gives back while it waits for a sleeping device, and checks right before it is
 * sent (the command claim; see RequestGate).
 */
export interface DeviceOps {
  /** Write 5/0/1; an empty URI withdraws a download (resets State to Idle). */
  writePackageUri(endpoint: string, uri: string, gate?: RequestGate): Promise<ChangeResult>;
  /** Execute 5/0/2. */
  executeUpdate(endpoint: string, gate?: RequestGate): Promise<ChangeResult>;
  /** Execute 5/0/10 (Cancel, object 5 version 1.1 on): back to Idle with Result 10. */
  cancelUpdate(endpoint: string, gate?: RequestGate): Promise<ChangeResult>;
  /**
   * Read 5/0/3 and 5/0/5 now and store them (a followed value went quiet, or a write was refused);
   * what was read, or undefined when the device did not answer.
   */
  pollFirmwareState(endpoint: string, gate?: RequestGate): Promise<FirmwareReport | undefined>;
  /** Read 3/0/3 now and store it (the device reported success without re-registering). */
  readFirmwareVersion(endpoint: string, gate?: RequestGate): Promise<void>;
  /**
   * Read 3/0/11 (Error Code) now and store it (an update's bake watches it); `observe`: by observing
   * it, so its notifications are stored too (a device that refuses is read).
   */
  readErrorCode(endpoint: string, how: 'observe' | 'read', gate?: RequestGate): Promise<void>;
}

/** A device's 5/0/3 and 5/0/5 as read; undefined where its answer lacked one. */
export interface FirmwareReport {
  readonly state: number | undefined;
  readonly result: number | undefined;
}

export type PackageUriChoice =
  | { readonly ok: true; readonly uri: string }
  | { readonly ok: false; readonly reason: string; readonly permanent: boolean };
