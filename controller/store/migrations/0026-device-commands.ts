import { type Kysely, sql } from 'kysely';

/**
 * The command outbox (issue 20): a row is one replica's claim on the next device request of one
 * active update (write the Package URI, Execute, a reset, a read), so no two replicas send an
 * update's requests at once, and which requests are in flight, where, is in the database. Derived
 * from the planner's decision at every pass and deleted by the statement that records the
 * request's result (or, for one that moved nothing, right after it), so it never outlives its
 * request as stored intent. `expires_at` is by the database clock; a claim that expired, or whose
 * replica stopped heartbeating, is anyone's to take over. The index finds expired claims.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table device_commands (
    update_id bigint primary key references firmware_updates (id) on delete cascade,
    device_id integer not null references devices (id) on delete cascade,
    kind text not null constraint device_commands_kind
      check (kind in ('write-uri', 'execute', 'reset', 'read')),
    replica text not null constraint device_commands_replica_id
      check (replica ~ '^[A-Za-z0-9._:@-]{1,200}$'),
    claimed_at timestamptz not null default now(),
    expires_at timestamptz not null,
    created_at timestamptz not null default now(),
    check (expires_at > claimed_at)
  )`.execute(db);
  await sql`create index device_commands_expires on device_commands (expires_at)`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table device_commands`.execute(db);
}
