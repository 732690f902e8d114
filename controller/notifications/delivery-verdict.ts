import { clipReason, type PostOutcome, reasonInAnswer } from '../webhooks/post-json.js';

/** The longest wait between attempts, backoff or Retry-After (5 minutes). */
export const MAX_RETRY_DELAY_MS = 300_000;

/**
 * What one delivery attempt means for its event: taken; worth another attempt (5xx, 408, 429, no
 * answer), after `afterMs` when the receiver said so; or refused for good (any other 4xx: this body
 * will never be taken, so the events after it must not wait on it), as Flux's notification-controller
 * and webhook senders treat them.
 */
export type DeliveryVerdict =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly reason: string; readonly afterMs?: number }
  | { readonly kind: 'refused'; readonly reason: string };

const RETRIED_4XX = new Set([408, 429]);
/** Statuses whose Retry-After is a receiver's word on when to come back. */
const RETRY_AFTER_STATUSES = new Set([429, 503]);

export function deliveryVerdict(outcome: PostOutcome): DeliveryVerdict {
  if (outcome.kind === 'failed') return { kind: 'retry', reason: outcome.reason };
  const { status } = outcome;
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  const said = reasonInAnswer(outcome.text);
  const reason = clipReason(said === '' ? `HTTP ${status}` : `HTTP ${status}: ${said}`);
  if (status >= 400 && status < 500 && !RETRIED_4XX.has(status)) return { kind: 'refused', reason };
  const afterMs = RETRY_AFTER_STATUSES.has(status) ? retryAfterMs(outcome.retryAfter) : undefined;
  return afterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, afterMs };
}

/** A Retry-After in seconds (the simple form; an HTTP date is left to the backoff), at most 5 minutes. */
export function retryAfterMs(value: string | null): number | undefined {
  if (value === null || !/^\s*\d{1,9}\s*$/.test(value)) return undefined;
  return Math.min(MAX_RETRY_DELAY_MS, Number(value) * 1000);
}
