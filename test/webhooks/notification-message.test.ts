import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  deliveryHeaders,
  type NotificationMessage,
  notificationBody,
} from '../../controller/webhooks/notification-message.js';

const MESSAGE: NotificationMessage = {
  id: 'otactl-event-42',
  type: 'StepStarted',
  rollout: 'trackers',
  message: 'step 2 of 3 started (50%)',
  time: '2026-12-04T12:00:00.000Z',
  details: {},
  revision: { sha: 'a1b2c3d4e5f6a7b8', author: 'Ada <ada@example.com>', subject: 'trackers: approve step 2' },
  status: {
    phase: 'Progressing',
    step: 2,
    steps: 3,
    target: { firmware: 'fw', version: '2.1.0' },
    counts: { selected: 100, upToDate: 10, failed: 1 },
  },
};

describe('notification messages', () => {
  it('sends the generic format as JSON with the event id, type, rollout, status, revision and time', () => {
    const body = JSON.parse(notificationBody('generic', MESSAGE));
    expect(body).toEqual({ notification: 'otactl', ...MESSAGE });
  });

  it('sends the slack format as one line of text with the progress and the commit', () => {
    expect(JSON.parse(notificationBody('slack', MESSAGE))).toEqual({
      text: 'otactl rollout `trackers`: *StepStarted* step 2 of 3 started (50%) (step 2 of 3, 10/100 up to date, 1 failed) — commit a1b2c3d by Ada <ada@example.com>: trackers: approve step 2',
    });
    const manifests = { ...MESSAGE, type: 'ManifestsInvalid', rollout: null, status: null, revision: null };
    expect(JSON.parse(notificationBody('slack', { ...manifests, message: '2 problems' }))).toEqual({
      text: 'otactl manifests: *ManifestsInvalid* 2 problems',
    });
  });

  it('signs TIMESTAMP.BODY with HMAC-SHA256 when a key is given, and says nothing of a signature without one', () => {
    const body = notificationBody('generic', MESSAGE);
    const headers = deliveryHeaders(MESSAGE, body, Date.UTC(2026, 11, 4, 12), 'k3y');
    expect(headers['x-otactl-timestamp']).toBe(String(Date.UTC(2026, 11, 4, 12) / 1000));
    expect(headers['x-otactl-event-id']).toBe('otactl-event-42');
    const expected = createHmac('sha256', 'k3y')
      .update(`${headers['x-otactl-timestamp']}.${body}`)
      .digest('hex');
    expect(headers['x-otactl-signature']).toBe(`sha256=${expected}`);
    expect(deliveryHeaders(MESSAGE, body, 0, undefined)['x-otactl-signature']).toBeUndefined();
  });
});
