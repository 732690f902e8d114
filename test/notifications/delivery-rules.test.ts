import { describe, expect, it } from 'vitest';
import {
  NOTIFICATION_EVENTS,
  type NotificationEvent,
  type NotificationSpec,
} from '../../controller/manifests/index.js';
import { wants } from '../../controller/notifications/delivery-store.js';
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
