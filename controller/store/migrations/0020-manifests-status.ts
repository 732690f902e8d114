import { type Kysely, sql } from 'kysely';

/**
 * The controller's view of its manifests (issue 22): one row, written on every load, valid or not,
 * so every replica, the API and `otactl status` read the same answer after a restart. The applied
 * revision is the last valid set's; the attempted one is the last load's, whose problems are kept
 * (at most 50 `file:line:col: message` lines).
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table manifests_status (
    id integer primary key check (id = 1),
    applied_sha text,
    applied_dirty boolean not null default false,
    attempted_sha text,
    attempted_dirty boolean not null default false,
    ready boolean not null,
    problem_count integer not null default 0,
    problems jsonb not null default '[]'::jsonb,
    since timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table manifests_status`.execute(db);
}
