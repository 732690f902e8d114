import { describe, expect, it } from 'vitest';
import {
  NOTIFICATION_EVENTS,
  type NotificationEvent,
  type NotificationSpec,
} from '../../controller/manifests/index.js';
import { wants } from '../../controller/notifications/delivery-store.js';
import { deliveryVerdict, retryAfterMs } from '../../controller/notifications/delivery-verdict.js';
import { retryDelayMs } from '../../controller/notifications/notifier.js';
import { notificationSpec } from '../helpers/notification-spec.js';

function spec(
  rollouts: NotificationSpec['rollouts'],
  events: readonly NotificationEvent[] = NOTIFICATION_EVENTS,
): NotificationSpec {
  return notificationSpec({ rollouts, events: new Set(events) });
}

describe('which events a Notification sends', () => {
  it('sends the events of the rollouts it names, or of every rollout with "*"', () => {
    const named = spec(['trackers']);
    expect(wants(named, { type: 'StepStarted', rollout: 'trackers' })).toBe(true);
    expect(wants(named, { type: 'StepStarted', rollout: 'meters' })).toBe(false);
    expect(wants(spec('*'), { type: 'StepStarted', rollout: 'meters' })).toBe(true);
  });

  it('sends events of the manifests and the git sync (no rollout) whatever rollouts it names', () => {
    for (const type of ['ManifestsInvalid', 'ManifestsRecovered', 'GitSyncFailed', 'GitSyncRecovered']) {
      expect(wants(spec(['trackers']), { type, rollout: null })).toBe(true);
    }
  });

  it('sends only the event types it asks for', () => {
    const some = spec('*', ['RolloutPaused', 'RolloutAborted']);
    expect(wants(some, { type: 'RolloutPaused', rollout: 'trackers' })).toBe(true);
    expect(wants(some, { type: 'StepStarted', rollout: 'trackers' })).toBe(false);
    expect(wants(some, { type: 'ManifestsInvalid', rollout: null })).toBe(false);
    // Per-device events are never sent, even to a Notification of every rollout.
    expect(wants(spec('*'), { type: 'UpdateFailed', rollout: 'trackers' })).toBe(false);
  });
});

describe('retrying a delivery', () => {
  it('backs off exponentially, 1 s doubling, at most 5 minutes', () => {
    expect([1, 2, 3, 4, 5].map(retryDelayMs)).toEqual([1000, 2000, 4000, 8000, 16_000]);
    expect(retryDelayMs(9)).toBe(256_000);
    expect(retryDelayMs(10)).toBe(300_000);
    expect(retryDelayMs(40)).toBe(300_000);
  });
});

describe('what an answer means for the event', () => {
  const answered = (status: number, text = '', retryAfter: string | null = null) =>
    deliveryVerdict({ kind: 'answered', status, text, retryAfter });

  it('takes a 2xx as delivered', () => {
    for (const status of [200, 201, 202, 204]) expect(answered(status)).toEqual({ kind: 'delivered' });
  });

  it('refuses an event for good on a 4xx other than 408 and 429, with the status and reason', () => {
    expect(answered(400, '{"message":"bad field"}')).toEqual({
      kind: 'refused',
      reason: 'HTTP 400: bad field',
    });
    for (const status of [401, 403, 404, 410, 413, 422]) expect(answered(status).kind).toBe('refused');
  });

  it('retries 5xx, 408, 429, 3xx and no answer at all', () => {
    for (const status of [500, 502, 503, 504, 408, 429, 302]) expect(answered(status).kind).toBe('retry');
    expect(deliveryVerdict({ kind: 'failed', reason: 'unreachable: ECONNREFUSED' })).toEqual({
      kind: 'retry',
      reason: 'unreachable: ECONNREFUSED',
    });
  });

  it("honours a Retry-After in seconds on 429 and 503, at most the backoff's 5 minutes", () => {
    expect(answered(429, '', '7')).toEqual({ kind: 'retry', reason: 'HTTP 429', afterMs: 7000 });
    expect(answered(503, 'busy', '3600')).toEqual({
      kind: 'retry',
      reason: 'HTTP 503: busy',
      afterMs: 300_000,
    });
    // Other statuses, and dates or garbage, leave it to the backoff.
    expect(answered(500, '', '7')).toEqual({ kind: 'retry', reason: 'HTTP 500' });
    expect(retryAfterMs('Wed, 21 Oct 2026 07:28:00 GMT')).toBeUndefined();
    expect(retryAfterMs('-1')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('0')).toBe(0);
  });
});
