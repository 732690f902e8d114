import { type Kysely, sql } from 'kysely';

/**
 * Notifications (issue 21). The events table is the outbox: an event is committed with the change
 * it tells of, and each Notification keeps a cursor into it (`last_event_id`: every event up to
 * it was delivered or given up). A restart, or another replica taking over, delivers from the
 * cursor on: nothing is lost; an event whose delivery was not recorded is sent again (its id
 * makes the duplicate recognisable).
 *
 * `events_notifiable` lets a delivery (and the search for the last manifests event) skip device
 * events: it lists the types a Notification may ask for (manifests/notification-events.ts); a
 * type added there needs this index rebuilt.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table notification_deliveries (
    name text primary key,
    last_event_id bigint not null,
    attempts integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz,
    last_error text check (length(last_error) <= 500),
    last_sent_at timestamptz,
    sent bigint not null default 0,
    given_up bigint not null default 0,
    created_at timestamptz not null default now()
  )`.execute(db);
  await sql`create index events_notifiable on events (id) where type in (
    'StepStarted', 'StepCompleted', 'ApprovalNeeded', 'GateRefused', 'GatePassed',
    'RolloutPaused', 'RolloutAborted', 'RolloutCompleted', 'RolloutDegraded', 'RolloutRemoved',
    'TargetChanged', 'ManifestsInvalid', 'ManifestsRecovered'
  )`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index events_notifiable`.execute(db);
  await sql`drop table notification_deliveries`.execute(db);
}
