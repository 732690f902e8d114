import { resultMeaning } from '../../store/update-codes.js';
import { FirmwareState, UpdateResult } from '../../store/update-phase.js';

/**
 * Transient outcomes may succeed on another attempt; permanent ones will fail the same way
 * (the device lacks storage, cannot take the package or the protocol) and are not retried.
 */
const TRANSIENT_RESULTS: ReadonlySet<number> = new Set([
  UpdateResult.OUT_OF_RAM,
  UpdateResult.CONNECTION_LOST,
  UpdateResult.INTEGRITY_CHECK_FAILURE,
]);

/**
 * How an update failed, from a fixed set: the `reason` label of otactl_updates_finished_total. The
 * reason in words (which may hold a device's signed URI or its own text) is in the row, the event
 * and the log; a label made of it would add a series for every device.
 */
export type FailureKind =
  /** A deadline passed (download, install, reset, reachability). */
  | 'timeout'
  /** The device reported an error Result (2..9); labelled `result-N`. */
  | 'device-result'
  /** The device reported a Result outside the spec's 0..11. */
  | 'unknown-result'
  /** It restarted, or reported success, still on the old version. */
  | 'not-installed'
  /** It registered again in State 0 and lost the download. */
  | 'lost-in-restart'
  /** Checks during the bake (spec.verify). */
  | 'bake-reboots'
  | 'bake-version'
  | 'bake-error-code'
  | 'bake-unseen'
  /** No Package URI could be made for the device. */
  | 'no-package-uri'
  | 'uri-refused'
  | 'execute-refused'
  /** It refused the reset to Idle before the Package URI write. */
  | 'reset-refused';

/** How an update was cancelled: by otactl (its rollout withdrew it), or by the device. */
export type CancelKind = 'withdrawn' | 'cancelled-by-device';

export function isRetryableResult(result: number): boolean {
  return TRANSIENT_RESULTS.has(result);
}

const KNOWN_RESULTS: ReadonlySet<number> = new Set(Object.values(UpdateResult));

/**
 * Whether `result` is an Update Result the spec defines (0..11): the only codes an update row's
 * `result` column accepts. A device may report anything else; that is a failure of its own kind.
 */
export function isKnownResult(result: number): boolean {
  return KNOWN_RESULTS.has(result);
}

export function unknownResultReason(result: number): string {
  return `unknown result code ${result}`;
}

export function failureReasonForResult(result: number): string {
  if (!isKnownResult(result)) return unknownResultReason(result);
  return `result ${result}: ${resultMeaning(result)}`;
}

/** What to do about a Package URI write the device answered with an error code. */
export type UriRefusalVerdict =
  | { readonly kind: 'reset-and-retry' }
  | { readonly kind: 'fail'; readonly reason: string; readonly retryable: boolean };

/**
 * Classifies a refused Package URI write by its CoAP code and the device's State then (null when
 * unknown). 4.00 and 4.06 from a device that is not Idle are what a client that takes a new package
 * only while Idle answers (the Anjay client does): reset it and write again, once. 4.04 and 4.05
 * mean the resource is missing or not writable: permanent, except 4.05 while the device installs
 * (State 3), which is "not now". A 5.xx is the device's own trouble and may pass.
 */
export function classifyUriRefusal(
  code: string,
  state: number | null,
  alreadyReset: boolean,
): UriRefusalVerdict {
  if (code === '4.00' || code === '4.06') {
    if (state === FirmwareState.IDLE)
      return { kind: 'fail', reason: 'refused while Idle (State 0)', retryable: false };
    if (alreadyReset)
      return { kind: 'fail', reason: 'refused again after a reset to Idle', retryable: false };
    return { kind: 'reset-and-retry' };
  }
  if (code === '4.04')
    return { kind: 'fail', reason: 'the device has no Package URI resource', retryable: false };
  if (code === '4.05') {
    if (state === FirmwareState.UPDATING)
      return { kind: 'fail', reason: 'the device is installing (State 3)', retryable: true };
    return { kind: 'fail', reason: 'the Package URI resource is not writable', retryable: false };
  }
  if (code.startsWith('5.')) return { kind: 'fail', reason: 'the device failed to take it', retryable: true };
  return { kind: 'fail', reason: 'the device does not take it', retryable: false };
}
