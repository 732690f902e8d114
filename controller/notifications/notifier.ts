import type { Kysely } from 'kysely';
import type { Logger } from '../log/index.js';
import type { DesiredState, GitCommit, NotificationSpec } from '../manifests/index.js';
import type { Database } from '../store/index.js';
import {
  deliveryHeaders,
  type NotificationMessage,
  notificationBody,
} from '../webhooks/notification-message.js';
import { postJson } from '../webhooks/post-json.js';
import {
  advanceCursor,
  ensureCursors,
  eventsAfter,
  loadCursor,
  type NotifiableEvent,
  recordFailure,
  rolloutNow,
  wants,
} from './delivery-store.js';
import { type DeliveryVerdict, deliveryVerdict, MAX_RETRY_DELAY_MS } from './delivery-verdict.js';

export interface NotifierOptions {
  readonly db: Kysely<Database>;
  readonly clock: () => number;
  readonly desired: () => DesiredState | undefined;
  /** Only one replica sends (the planner); the others keep still. */
  readonly isSender: () => boolean;
  readonly log: Logger;
  /** Where `secretEnv` names are looked up; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** How often the events are looked at; default 1 s. */
  readonly pollMs?: number;
}

/** Events looked at per Notification and round. */
const BATCH = 100;
/** Backoff after the n-th failed attempt: 1 s, 2 s, 4 s, ... at most 5 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, 1000 * 2 ** Math.max(0, attempts - 1));
}

/**
 * Delivers each Notification's events from its cursor on, one at a time and in order, at least
 * once: the cursor moves only after a 2xx, so a receiver that was down gets every event afterwards
 * in the order they happened. A failed delivery (5xx, 408, 429, no answer) is retried with backoff
 * (or the receiver's Retry-After) until the event is older than `maxRetryTime`; then it is logged,
 * counted and skipped. Any other 4xx refuses that event for good: it is logged and skipped at once,
 * so one body a receiver will never take does not hold back the events after it (delivery-verdict.ts).
 * Notifications do not wait for each other: each has a delivery of its own, so a receiver slow to
 * answer holds back only its own events. All state is in the database (see migration 0021).
 */
export class Notifier {
  readonly name = 'notifier';
  readonly #options: NotifierOptions;
  #timer: NodeJS.Timeout | undefined;
  /** The delivery under way of each Notification (by name): one at a time each, none waiting on another. */
  readonly #running = new Map<string, Promise<void>>();
  /** Notifications woken while their delivery ran: each looks again as soon as it ends. */
  readonly #again = new Set<string>();
  /** Wakes still looking at the manifests and cursors (awaited by stop). */
  readonly #waking = new Set<Promise<void>>();
  #ensured = '';
  #stopped = true;

  constructor(options: NotifierOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#timer = setInterval(() => this.wake(), this.#options.pollMs ?? 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await Promise.all(this.#waking);
    await Promise.all(this.#running.values());
  }

  /**
   * Looks at the events now: each Notification whose delivery is not under way starts one, and each
   * whose delivery is under way looks again once it ends. A receiver slow to answer holds back its
   * own Notification only.
   */
  wake(): void {
    if (this.#stopped) return;
    const waking = this.#startAll()
      .then(() => undefined)
      .catch((error: unknown) =>
        this.#options.log.error({ err: error }, 'notification round failed; trying again shortly'),
      )
      .finally(() => this.#waking.delete(waking));
    this.#waking.add(waking);
  }

  /** Wakes every Notification and waits until each has looked (exposed for tests). */
  async round(): Promise<void> {
    await Promise.all(await this.#startAll());
  }

  async #startAll(): Promise<Promise<void>[]> {
    const desired = this.#options.desired();
    if (!desired || desired.notifications.size === 0 || !this.#options.isSender()) return [];
    const names = [...desired.notifications.keys()].sort();
    if (names.join('\u0000') !== this.#ensured) {
      await ensureCursors(this.#options.db, names);
      this.#ensured = names.join('\u0000');
    }
    return names.map((name) => this.#run(name));
  }

  /** The delivery of Notification `name`: the one under way (asked to look again), or a new one. */
  #run(name: string): Promise<void> {
    const running = this.#running.get(name);
    if (running !== undefined) {
      this.#again.add(name);
      return running;
    }
    const run = (async () => {
      do {
        this.#again.delete(name);
        // The manifests as they are now: a changed or removed Notification is seen at its next look.
        const desired = this.#options.desired();
        const spec = desired?.notifications.get(name);
        if (this.#stopped || desired === undefined || spec === undefined || !this.#options.isSender()) break;
        await this.#deliver(spec, desired);
      } while (this.#again.has(name) && !this.#stopped);
    })().finally(() => this.#running.delete(name));
    this.#running.set(name, run);
    return run;
  }

  async #deliver(spec: NotificationSpec, desired: DesiredState): Promise<void> {
    const { db, clock, log } = this.#options;
    try {
      const cursor = await loadCursor(db, spec.name);
      if (!cursor || (cursor.nextAttemptAt && cursor.nextAttemptAt.getTime() > clock())) return;
      let passed = cursor.lastEventId;
      let failures = cursor.attempts;
      for (const event of await eventsAfter(db, cursor.lastEventId, BATCH)) {
        if (this.#stopped) break;
        if (!wants(spec, event)) {
          passed = event.id;
          continue;
        }
        if (passed > cursor.lastEventId) await advanceCursor(db, spec.name, passed, 'skipped', clock());
        const verdict = await this.#send(spec, event, desired);
        if (verdict.kind === 'delivered') {
          await advanceCursor(db, spec.name, event.id, 'sent', clock());
          passed = event.id;
          failures = 0;
          continue;
        }
        const now = clock();
        const error = verdict.reason;
        const expired = now - event.at.getTime() >= spec.maxRetryMs;
        if (verdict.kind === 'refused' || expired) {
          const why = verdict.kind === 'refused' ? 'refused for good' : `after ${spec.maxRetryMs / 1000} s`;
          log.error(
            {
              notification: spec.name,
              eventId: event.id,
              type: event.type,
              rollout: event.rollout,
              error,
              permanent: verdict.kind === 'refused',
            },
            `notification ${spec.name} gave up on event ${event.id} (${event.type}) ${why}: ${error}`,
          );
          await advanceCursor(db, spec.name, event.id, 'given-up', now);
          passed = event.id;
          failures = 0;
          continue;
        }
        const attempts = failures + 1;
        const delay = verdict.afterMs ?? retryDelayMs(attempts);
        await recordFailure(db, spec.name, attempts, now + delay, error);
        log.warn(
          { notification: spec.name, eventId: event.id, type: event.type, attempts, error },
          `notification ${spec.name}: delivery of event ${event.id} failed (${error}); retrying`,
        );
        return;
      }
      if (passed > cursor.lastEventId) await advanceCursor(db, spec.name, passed, 'skipped', clock());
    } catch (error) {
      log.error(
        { err: error, notification: spec.name },
        'notification delivery failed; trying again shortly',
      );
    }
  }

  /** Sends one event: what the receiver's answer (or its absence) means for it. */
  async #send(
    spec: NotificationSpec,
    event: NotifiableEvent,
    desired: DesiredState,
  ): Promise<DeliveryVerdict> {
    const env = this.#options.env ?? process.env;
    const key = spec.secretEnv === undefined ? undefined : env[spec.secretEnv];
    if (spec.secretEnv !== undefined && (key === undefined || key === '')) {
      // The operator's to fix, not the event's fault: retried until the variable is set.
      const reason = `environment variable ${spec.secretEnv} (secretEnv) is not set: not sending unsigned`;
      return { kind: 'retry', reason };
    }
    const message = await this.#message(event, desired);
    const body = notificationBody(spec.format, message);
    const headers = deliveryHeaders(message, body, this.#options.clock(), key);
    return deliveryVerdict(await postJson(spec.url, body, headers, spec.timeoutMs));
  }

  async #message(event: NotifiableEvent, desired: DesiredState): Promise<NotificationMessage> {
    const row = event.rollout === null ? undefined : await rolloutNow(this.#options.db, event.rollout);
    const rollout = event.rollout === null ? undefined : desired.rollouts.get(event.rollout);
    const commit = rollout?.source.revision?.commit;
    const spec = row?.spec as { steps?: unknown[] } | undefined;
    return {
      id: `otactl-event-${event.id}`,
      type: event.type,
      rollout: event.rollout,
      message: event.message,
      time: event.at.toISOString(),
      details: event.details,
      revision: revisionOf(event.gitRevision, commit),
      status: row
        ? {
            phase: row.phase,
            step: row.current_step + 1,
            steps: Array.isArray(spec?.steps) ? spec.steps.length : null,
            target:
              row.target_firmware !== null && row.target_version !== null
                ? { firmware: row.target_firmware, version: row.target_version }
                : null,
            counts: row.counts,
          }
        : null,
    };
  }
}

function revisionOf(sha: string | null, commit: GitCommit | undefined): NotificationMessage['revision'] {
  if (sha === null) return null;
  return commit?.sha === sha ? { ...commit } : { sha };
}
