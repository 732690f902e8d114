import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../controller/log/index.js';
import { captureStream } from '../helpers/capture-stream.js';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, createTestClock, Scene } from '../helpers/rollout-fixture.js';
import { notificationManifest, useWebhookFixture } from '../helpers/webhook-fixture.js';

const KEY = 'notification-test-key';

/** The events of the rollout `fleet` a Notification sends, in order. */
function notifiedEvents(db: Scene['db']) {
  return db
    .selectFrom('events')
    .select(['id', 'type'])
    .where('rollout', '=', 'fleet')
    .where('type', 'in', ['StepStarted', 'StepCompleted', 'RolloutCompleted'])
    .orderBy('id')
    .execute();
}

describe.each(testBackends)('notifications on $name', (backend) => {
  const fixture = useWebhookFixture<Scene>();

  /** A Notification to `url` and a 2-step rollout of 2 devices, completed (on a test clock). */
  async function completedRollout(url: string, notificationExtra = '', overrides: { logger?: Logger } = {}) {
    const scene = fixture.own(await Scene.create(backend));
    const clock = createTestClock();
    await scene.ws.writeManifest(
      'notify.yaml',
      notificationManifest({
        url,
        spec: `  rollouts: [fleet]
  secretEnv: OTACTL_TEST_HMAC
${notificationExtra}`,
      }),
    );
    const { controller } = await scene.startRollout({
      rollout: 'fleet',
      spec: `  strategy:
    steps: [{ percent: 50 }, { percent: 100 }]
`,
      controller: {
        clock: clock.now,
        notifications: { pollMs: 20, env: { OTACTL_TEST_HMAC: KEY } },
        ...overrides,
      },
    });
    await scene.addFleet({ count: 2 });
    const db = scene.db;
    await afterPassWhen(
      controller,
      async () =>
        (await db.selectFrom('rollouts').select('phase').executeTakeFirstOrThrow()).phase === 'Completed',
    );
    return { scene, clock, db, controller };
  }

  it('delivers every event in order, signed, after the receiver was down and the controller restarted', async () => {
    const receiver = await fixture.receiver();
    receiver.respond = (res) => res.writeHead(503).end('maintenance');
    const { scene, clock, db, controller } = await completedRollout(receiver.url);
    // Down: the first event was tried and refused; nothing counts as sent.
    await receiver.received(1);
    await afterPassWhen(controller, async () => {
      const row = await db.selectFrom('notification_deliveries').select('last_error').executeTakeFirst();
      return row?.last_error != null;
    });
    const api = async () =>
      (await (await fetch(`http://127.0.0.1:${scene.controller.httpPort}/api/v1/notifications`)).json()) as {
        notifications: Record<string, unknown>[];
      };
    const down = (await api()).notifications;
    expect(down).toEqual([
      expect.objectContaining({
        name: 'ops',
        receiver: new URL(receiver.url).origin,
        configured: true,
        signed: true,
        sent: 0,
        failingAttempts: expect.any(Number),
        lastError: 'HTTP 503: maintenance',
      }),
    ]);
    expect(down[0]!.pending).toBeGreaterThanOrEqual(3);

    const wanted = await notifiedEvents(db);
    expect(wanted.map((e) => e.type)).toEqual([
      'StepStarted',
      'StepCompleted',
      'StepStarted',
      'StepCompleted',
      'RolloutCompleted',
    ]);

    // A restart loses nothing: the cursor is in the database.
    const restarted = await scene.restartController();
    receiver.respond = (res) => res.writeHead(200).end();
    clock.advance(10 * 60_000);
    const lastId = `otactl-event-${wanted.at(-1)!.id}`;
    await receiver.receivedWhen(() =>
      receiver.requests.some((r) => r.status === 200 && r.headers['x-otactl-event-id'] === lastId),
    );

    const delivered = receiver.requests.filter((r) => r.status === 200);
    // At least once, in order: duplicates may only repeat the event right before (a delivery whose
    // record was lost); here there are none.
    expect(delivered.map((r) => r.headers['x-otactl-event-id'])).toEqual(
      wanted.map((e) => `otactl-event-${e.id}`),
    );
    for (const r of delivered) {
      const timestamp = String(r.headers['x-otactl-timestamp']);
      const expected = createHmac('sha256', KEY).update(`${timestamp}.${r.raw}`).digest('hex');
      expect(r.headers['x-otactl-signature']).toBe(`sha256=${expected}`);
    }
    expect(delivered.at(-1)!.body).toMatchObject({
      notification: 'otactl',
      type: 'RolloutCompleted',
      rollout: 'fleet',
      status: { phase: 'Completed', steps: 2, counts: { selected: 2, upToDate: 2 } },
    });
    // The receiver records a delivery before the controller records it as sent.
    await afterPassWhen(restarted, async () => {
      const row = await db.selectFrom('notification_deliveries').select('sent').executeTakeFirstOrThrow();
      return Number(row.sent) === 5;
    });
    const up = (await api()).notifications[0]!;
    expect(up).toMatchObject({ sent: 5, givenUp: 0, failingAttempts: 0, lastError: null, pending: 0 });
    const metrics = await (await fetch(`http://127.0.0.1:${restarted.httpPort}/metrics`)).text();
    expect(metrics).toContain('otactl_notifications_sent_total{notification="ops"} 5');
  });

  it('gives up at once on an event the receiver refuses with a 4xx, logs it, and delivers the later ones without waiting', async () => {
    const receiver = await fixture.receiver();
    // The first StepCompleted is refused (say its body is too large for the receiver); the rest are taken.
    let refusedId: string | undefined;
    receiver.respond = (res, body) => {
      const { id, type } = body as { id: string; type: string };
      if (type === 'StepCompleted' && (refusedId === undefined || refusedId === id)) {
        refusedId = id;
        res.writeHead(413).end('{"message":"payload too large"}');
      } else res.writeHead(200).end();
    };
    const log = captureStream();
    // The default maxRetryTime (24 h) and a clock that never moves: only a final refusal lets the rest through.
    const { db, controller } = await completedRollout(receiver.url, '', {
      logger: createLogger({ level: 'error', pretty: false, destination: log.stream }),
    });
    const wanted = await notifiedEvents(db);
    const ids = wanted.map((e) => `otactl-event-${e.id}`);
    await receiver.receivedWhen(() =>
      receiver.requests.some((r) => r.status === 200 && r.headers['x-otactl-event-id'] === ids.at(-1)),
    );
    expect(refusedId).toBe(ids[1]);
    // Asked once, never again; every other event delivered, in order.
    expect(receiver.requests.map((r) => [r.headers['x-otactl-event-id'], r.status])).toEqual(
      ids.map((id) => [id, id === refusedId ? 413 : 200]),
    );
    await afterPassWhen(controller, async () => {
      const row = await db.selectFrom('notification_deliveries').selectAll().executeTakeFirstOrThrow();
      return Number(row.sent) === 4;
    });
    const row = await db.selectFrom('notification_deliveries').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ attempts: 0 });
    expect(Number(row.given_up)).toBe(1);
    const lines = log
      .text()
      .split('\n')
      .filter((l) => l.includes('gave up'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        notification: 'ops',
        eventId: wanted[1]!.id,
        error: 'HTTP 413: payload too large',
        permanent: true,
        msg: `notification ops gave up on event ${wanted[1]!.id} (StepCompleted) refused for good: HTTP 413: payload too large`,
      }),
    ]);
  });

  it('gives up on an event after maxRetryTime, counts it, and goes on with the next', async () => {
    const receiver = await fixture.receiver();
    receiver.respond = (res) => res.writeHead(500).end('broken');
    const log = captureStream();
    const { clock, db, controller } = await completedRollout(
      receiver.url,
      '  maxRetryTime: 1m\n  events: [StepStarted, StepCompleted]\n',
      { logger: createLogger({ level: 'error', pretty: false, destination: log.stream }) },
    );
    await receiver.received(1);
    clock.advance(2 * 60_000);
    const row = () => db.selectFrom('notification_deliveries').selectAll().executeTakeFirstOrThrow();
    // Every one of the four events (two steps started and completed) is tried (at least once) and
    // given up: the receiver never takes one.
    await receiver.receivedWhen(
      () => new Set(receiver.requests.map((r) => r.headers['x-otactl-event-id'])).size === 4,
    );
    await afterPassWhen(controller, async () => Number((await row()).given_up) === 4);
    expect(await row()).toMatchObject({ sent: expect.anything(), attempts: 0 });
    expect(Number((await row()).sent)).toBe(0);
    // One error line per event given up, naming the Notification, the event and the last error.
    const lines = log
      .text()
      .split('\n')
      .filter((l) => l.includes('gave up'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.level, l.notification, l.error])).toEqual([
      [50, 'ops', 'HTTP 500: broken'],
      [50, 'ops', 'HTTP 500: broken'],
      [50, 'ops', 'HTTP 500: broken'],
      [50, 'ops', 'HTTP 500: broken'],
    ]);
    expect(new Set(lines.map((l) => l.eventId)).size).toBe(4);
    expect(String(lines[0]!.msg)).toMatch(
      /^notification ops gave up on event \d+ \(Step\w+\) after 60 s: HTTP 500: broken$/,
    );
  });
});
