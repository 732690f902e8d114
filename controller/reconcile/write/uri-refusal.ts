import { describeResult, describeState } from '../../store/update-codes.js';
import type { DeviceView } from '../plan/observation.js';
import type { FirmwareReport } from './device-ops.js';
import type { UpdateChanges } from './update-store.js';

/** A Package URI write the device answered with an error code, and its state at that moment. */
export interface UriRefusal {
  readonly uri: string;
  /** CoAP code, e.g. "4.00". */
  readonly code: string;
  /** The device's 5/0/3 and 5/0/5: read right after the refusal, else its last report; null when unknown. */
  readonly state: number | null;
  readonly result: number | null;
  readonly at: number;
}

/** The refusal, with the device's state read after it (`read`) or, failing that, its last report. */
export function uriRefusal(
  uri: string,
  code: string,
  read: FirmwareReport | undefined,
  device: DeviceView,
  at: number,
): UriRefusal {
  return {
    uri,
    code,
    state: storable(read?.state ?? device.fwState),
    result: storable(read?.result ?? device.fwResult),
    at,
  };
}

/** A device's code as the smallint column holds it; a value no device should send is unknown. */
function storable(code: number | null | undefined): number | null {
  return code !== null && code !== undefined && Number.isInteger(code) && code >= 0 && code <= 32_767
    ? code
    : null;
}

/** e.g. `4.00 for coap://... (device State 2 downloaded, Result 8 firmware update failed)`. */
export function describeRefusal(refusal: UriRefusal): string {
  return `${refusal.code} for ${refusal.uri} (${deviceWhenRefusing(refusal)})`;
}

/**
 * The refusal without its URI, for a failure reason: reasons are grouped and counted ("failed by
 * reason", the rollout's failed-devices metric), and a signed URI differs per device. The URI
 * stays on the row (package_uri) and in the event.
 */
export function describeRefusalCode(refusal: UriRefusal): string {
  return `${refusal.code} (${deviceWhenRefusing(refusal)})`;
}

function deviceWhenRefusing(refusal: UriRefusal): string {
  const state = refusal.state === null ? 'State unknown' : `State ${describeState(refusal.state)}`;
  const result = refusal.result === null ? 'Result unknown' : `Result ${describeResult(refusal.result)}`;
  return `device ${state}, ${result}`;
}

/** The columns of the update row that keep the refusal. */
export function refusalChanges(refusal: UriRefusal): UpdateChanges {
  return {
    package_uri: refusal.uri,
    refusal_code: refusal.code,
    refusal_state: refusal.state,
    refusal_result: refusal.result,
    refused_at: new Date(refusal.at),
  };
}

/** The refusal in an event's details. */
export function refusalDetails(refusal: UriRefusal): Record<string, unknown> {
  return {
    uri: refusal.uri,
    code: refusal.code,
    deviceState: refusal.state,
    deviceResult: refusal.result,
  };
}
