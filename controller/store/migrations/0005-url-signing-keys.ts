import { type Kysely, sql } from 'kysely';

/**
 * The keys that sign firmware download links (`--signed-urls`), shared by every controller on the
 * database so a link outlives a restart and verifies on any replica. `id` is the key's generation:
 * the newest signs, older ones verify links until those have expired (controller/firmware/
 * signing-keys.ts). Two controllers creating the same generation at once insert the same id; one
 * insert wins (on conflict do nothing) and both read the winner.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table url_signing_keys (
    id integer primary key check (id > 0),
    secret bytea not null check (length(secret) = 32),
    created_at timestamptz not null
  )`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table url_signing_keys`.execute(db);
}
