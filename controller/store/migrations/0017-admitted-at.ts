import { type Kysely, sql } from 'kysely';

/**
 * Admission by the database clock (issue 20): `admitted_at` is the database's now() when an update
 * was admitted, and the insert that admits updates counts the rollout's admissions of the last
 * minute by it, so `maxPerMinute` holds whichever replica (and clock) plans. Rows from before this
 * migration have none and count as admitted more than a minute ago.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table firmware_updates add column admitted_at timestamptz`.execute(db);
  await sql`alter table firmware_updates alter column admitted_at set default now()`.execute(db);
  await sql`create index firmware_updates_rollout_admitted on firmware_updates (rollout, admitted_at)
    where admitted_at is not null`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index firmware_updates_rollout_admitted`.execute(db);
  await sql`alter table firmware_updates drop column admitted_at`.execute(db);
}
