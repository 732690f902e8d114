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

export function failureReasonForResult(result: number): string {
  return `result ${result}: ${resultMeaning(result)}`;
}
