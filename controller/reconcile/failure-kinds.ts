import { UpdateResult } from '../store/index.js';
import { resultMeaning } from '../store/update-codes.js';

/**
 * Transient outcomes may succeed on another attempt; permanent ones will fail the same way
 * (the device lacks storage, cannot take the package or the protocol) and are not retried.
 */
const TRANSIENT_RESULTS: ReadonlySet<number> = new Set([
  UpdateResult.OUT_OF_RAM,
  UpdateResult.CONNECTION_LOST,
  UpdateResult.INTEGRITY_CHECK_FAILURE,
]);

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
