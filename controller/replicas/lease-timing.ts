/**
 * How a lease is held, as controller-runtime's leader election: the holder renews it every
 * `retryMs`; a renewal extends it to `durationMs` from the database's now; a holder that has not
 * renewed for `renewDeadlineMs` (by its own monotonic clock) stops acting as leader, which is before
 * the lease expires for the others. Candidates try to take an expired lease every `retryMs`.
 */
export interface LeaseTiming {
  readonly durationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryMs: number;
}

/** controller-runtime's defaults: 15 s, 10 s, 2 s. */
export const DEFAULT_LEASE_TIMING: LeaseTiming = {
  durationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryMs: 2_000,
};

/** Why a timing cannot hold a lease safely, or undefined when it can. */
export function leaseTimingProblem(t: LeaseTiming): string | undefined {
  if (!(t.retryMs > 0)) return 'the retry period must be positive';
  if (!(t.renewDeadlineMs > t.retryMs)) return 'the renew deadline must be longer than the retry period';
  if (!(t.durationMs > t.renewDeadlineMs)) return 'the lease duration must be longer than the renew deadline';
  return undefined;
}
