import { UpdateResult } from '../store/index.js';

/** What 5/0/5 codes mean, in the words an operator reads in status and history. */
export const RESULT_TEXT: Readonly<Record<number, string>> = {
  0: 'initial',
  1: 'success',
  2: 'not enough flash',
  3: 'out of RAM',
  4: 'connection lost during download',
  5: 'integrity check failure',
  6: 'unsupported package type',
  7: 'invalid URI',
  8: 'firmware update failed',
  9: 'unsupported protocol',
  10: 'cancelled',
  11: 'deferred',
};

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
  return `result ${result}: ${RESULT_TEXT[result] ?? 'unknown'}`;
}
