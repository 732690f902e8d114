import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../controller/log/index.js';
import { Notifier } from '../../controller/notifications/notifier.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import { notificationSpec } from '../helpers/notification-spec.js';
import { desiredStateOf } from '../helpers/resolved-rollout.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

/** The event ids a receiver got, in order. */
function eventIds(receiver: WebhookReceiver): string[] {
  return receiver.requests.map((r) => (r.body as { id: string }).id);
}

describe.each(testBackends)('Notifications deliver independently ($name)', (backend) => {
  let store: OpenDatabase | undefined;
  let notifier: Notifier | undefined;
  const receivers: WebhookReceiver[] = [];
  const held: ServerResponse[] = [];
  afterEach(async () => {
    for (const res of held.splice(0)) res.writeHead(200).end();
    await notifier?.stop();
    notifier = undefined;
    for (const r of receivers.splice(0)) await r.close();
    await store?.close();
    store = undefined;
  });

  it("delivers B's events while A's receiver holds its answer", async () => {
    store = await backend.open();
    const db = store.db;
    const a = await WebhookReceiver.start();
    const b = await WebhookReceiver.start();
    receivers.push(a, b);
    // A takes each event, but answers only when the test lets it (a receiver near its timeout).
    a.respond = (res) => held.push(res);
    const desired = {
      ...desiredStateOf(),
      notifications: new Map([
        ['a', notificationSpec({ name: 'a', url: a.url })],
        ['b', notificationSpec({ name: 'b', url: b.url })],
      ]),
    };
    notifier = new Notifier({
      db,
      clock: Date.now,
      desired: () => desired,
      isSender: () => true,
      log: createLogger({ level: 'silent' }),
      // Only the test wakes it.
      pollMs: 3_600_000,
    });
    await notifier.start();
    await notifier.round(); // the cursors start at the newest event (none)

    const append = async (message: string) => {
      const row = await db
        .insertInto('events')
        .values({ type: 'ManifestsInvalid', message })
        .returning('id')
        .executeTakeFirstOrThrow();
      return `otactl-event-${row.id}`;
    };
    const first = await append('first');
    notifier.wake();
    await a.received(1);
    await b.received(1);

    const second = await append('second');
    notifier.wake();
    // On one shared round B waited for A's answer: its second event never came while A held.
    await b.received(2);
    expect(eventIds(b)).toEqual([first, second]);
    expect(eventIds(a)).toEqual([first]);
    expect(held).toHaveLength(1);

    // Released, A goes on with the event it was woken for meanwhile.
    held.shift()!.writeHead(200).end();
    a.respond = (res) => res.writeHead(200).end();
    await a.received(2);
    expect(eventIds(a)).toEqual([first, second]);
  }, 20_000);
});
