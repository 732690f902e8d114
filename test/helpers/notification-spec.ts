import { NOTIFICATION_EVENTS, type NotificationSpec } from '../../controller/manifests/index.js';
import { TEST_SOURCE } from './resolved-rollout.js';

/** A resolved Notification `ops` to an unused local URL: every rollout, every event, unsigned. */
export function notificationSpec(overrides: Partial<NotificationSpec> = {}): NotificationSpec {
  return {
    name: 'ops',
    url: 'http://127.0.0.1:1/hook',
    format: 'generic',
    rollouts: '*',
    events: new Set(NOTIFICATION_EVENTS),
    secretEnv: undefined,
    timeoutMs: 10_000,
    maxRetryMs: 86_400_000,
    source: TEST_SOURCE,
    ...overrides,
  };
}
