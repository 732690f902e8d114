import { type Kysely, sql } from 'kysely';

/**
 * Commit metadata (issue 22, point 1): one row per commit the manifests were loaded at, written
 * when they are applied, so every place that stores a revision (rollouts, firmware_updates,
 * events, manifests_status) shows its author, time and subject by a join on the sha. A commit
 * never changes: rows are only inserted. `authored_at` is git's ISO 8601 with the author's offset.
 *
 * `rollouts.step_approved_revision` is the commit in effect when the current step started after a
 * manual pause (null when the step did not wait for an approval); each update started in that step
 * keeps it in `firmware_updates.approved_revision`.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table commits (
    sha text primary key,
    author text not null,
    email text not null,
    authored_at text not null,
    subject text not null,
    recorded_at timestamptz not null default now()
  )`.execute(db);
  await sql`alter table rollouts add column step_approved_revision text`.execute(db);
  await sql`alter table firmware_updates add column approved_revision text`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table firmware_updates drop column approved_revision`.execute(db);
  await sql`alter table rollouts drop column step_approved_revision`.execute(db);
  await sql`drop table commits`.execute(db);
}
