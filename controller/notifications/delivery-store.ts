import { type Kysely, sql } from 'kysely';
import { NOTIFICATION_EVENTS, type NotificationSpec } from '../manifests/index.js';
import type { Database } from '../store/index.js';

/** An event a Notification may send (a row of `events` of a notifiable type). */
export interface NotifiableEvent {
  readonly id: number;
  readonly at: Date;
  readonly rollout: string | null;
  readonly type: string;
  readonly message: string;
  readonly details: Record<string, unknown>;
  readonly gitRevision: string | null;
}

export interface DeliveryCursor {
  readonly name: string;
  readonly lastEventId: number;
  readonly attempts: number;
  readonly nextAttemptAt: Date | null;
}

/**
 * The types as literals (our own constants, never input): a partial index on them
 * (events_notifiable, migration 0021) serves only queries the planner can prove it covers.
 */
const NOTIFIABLE = sql.raw(NOTIFICATION_EVENTS.map((t) => `'${t}'`).join(', '));

/** Cursors for Notifications seen for the first time, at the newest event: history is not replayed. */
export async function ensureCursors(db: Kysely<Database>, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await db
    .insertInto('notification_deliveries')
    .values(
      names.map((name) => ({ name, last_event_id: sql<number>`(select coalesce(max(id), 0) from events)` })),
    )
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
}

export async function loadCursor(db: Kysely<Database>, name: string): Promise<DeliveryCursor | undefined> {
  const row = await db
    .selectFrom('notification_deliveries')
    .select(['name', 'last_event_id', 'attempts', 'next_attempt_at'])
    .where('name', '=', name)
    .executeTakeFirst();
  return row
    ? {
        name: row.name,
        lastEventId: Number(row.last_event_id),
        attempts: row.attempts,
        nextAttemptAt: row.next_attempt_at,
      }
    : undefined;
}

/** The next notifiable events after `afterId`, oldest first. */
export async function eventsAfter(
  db: Kysely<Database>,
  afterId: number,
  limit: number,
): Promise<NotifiableEvent[]> {
  const result = await sql<{
    id: string | number;
    at: Date;
    rollout: string | null;
    type: string;
    message: string;
    details: Record<string, unknown> | null;
    git_revision: string | null;
  }>`select id, at, rollout, type, message, details, git_revision from events
     where id > ${afterId} and type in (${NOTIFIABLE}) order by id limit ${limit}`.execute(db);
  return result.rows.map((r) => ({
    id: Number(r.id),
    at: r.at,
    rollout: r.rollout,
    type: r.type,
    message: r.message,
    details: r.details ?? {},
    gitRevision: r.git_revision,
  }));
}

/** Whether the Notification asks for this event. */
export function wants(spec: NotificationSpec, event: Pick<NotifiableEvent, 'type' | 'rollout'>): boolean {
  if (!(spec.events as ReadonlySet<string>).has(event.type)) return false;
  if (event.rollout === null || spec.rollouts === '*') return true;
  return spec.rollouts.includes(event.rollout);
}

export type Advance = 'sent' | 'given-up' | 'skipped';

/** Moves the cursor forward to `eventId` (never back: a slower replica's write changes nothing). */
export async function advanceCursor(
  db: Kysely<Database>,
  name: string,
  eventId: number,
  how: Advance,
  at: number,
): Promise<void> {
  await db
    .updateTable('notification_deliveries')
    .set((eb) => ({
      last_event_id: eventId,
      attempts: 0,
      next_attempt_at: null,
      ...(how === 'skipped' ? {} : { last_error: null }),
      ...(how === 'sent' ? { sent: eb('sent', '+', 1), last_sent_at: new Date(at) } : {}),
      ...(how === 'given-up' ? { given_up: eb('given_up', '+', 1) } : {}),
    }))
    .where('name', '=', name)
    .where('last_event_id', '<', eventId)
    .execute();
}

export async function recordFailure(
  db: Kysely<Database>,
  name: string,
  attempts: number,
  nextAttemptAt: number,
  error: string,
): Promise<void> {
  await db
    .updateTable('notification_deliveries')
    .set({ attempts, next_attempt_at: new Date(nextAttemptAt), last_error: error.slice(0, 500) })
    .where('name', '=', name)
    .execute();
}

/** The rollout's state as it is now, for the message (undefined when it has no status row). */
export async function rolloutNow(db: Kysely<Database>, rollout: string) {
  return db
    .selectFrom('rollouts')
    .select(['phase', 'current_step', 'counts', 'target_firmware', 'target_version', 'spec'])
    .where('name', '=', rollout)
    .executeTakeFirst();
}
