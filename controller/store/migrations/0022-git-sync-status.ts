import { type Kysely, sql } from 'kysely';

/**
 * The outcome of the last sync of the manifests clone (`otactl run --git-url`, issue 22): one row,
 * so a sync that fails (a remote rewritten, unreachable) is part of the manifests status in the API,
 * `otactl status` and the dashboard, not only a log line. The URL is kept without credentials.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table git_sync_status (
    id integer primary key check (id = 1),
    url text not null,
    branch text not null,
    ok boolean not null,
    head text,
    reason text,
    message text,
    failing_since timestamptz,
    last_success_at timestamptz,
    checked_at timestamptz not null default now()
  )`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table git_sync_status`.execute(db);
}
