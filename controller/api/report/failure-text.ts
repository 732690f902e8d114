/** What an update's `failureReason` says beyond its result code and meaning. */
export interface FailureFields {
  readonly result: number;
  readonly resultText: string;
  readonly failureReason: string | null;
}

/**
 * The part of `failureReason` that `result N <meaning>` does not already say, or null. The
 * reconciler writes reasons as `result 6: unsupported package type`, sometimes followed by more
 * (`result 4: connection lost during download: the device restarted ...`): only that rest is
 * worth printing. A reason of another shape is returned whole.
 */
export function failureReasonBeyondResult(u: FailureFields): string | null {
  const reason = u.failureReason;
  if (!reason) return null;
  for (const said of [`result ${u.result}: ${u.resultText}`, u.resultText]) {
    if (reason === said) return null;
    const rest = reason.slice(said.length);
    if (reason.startsWith(said) && /^[:;,] \S/.test(rest)) return rest.slice(2);
  }
  return reason;
}
