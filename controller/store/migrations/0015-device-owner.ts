import { type Kysely, sql } from 'kysely';

/**
 * Device ownership (issue 20): `owner_replica` is the replica a device last sent a Register or
 * Update to, rewritten at every one of them; only that replica can reach it (its NAT binding and
 * DTLS session live there). Not a foreign key: a replica's row is deleted an hour after it went
 * silent, and its devices keep naming it until they reach another. The index serves devices per
 * replica (API, status, metrics).
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table devices
    add column owner_replica text
      constraint devices_owner_replica_id check (owner_replica ~ '^[A-Za-z0-9._:@-]{1,200}$')`.execute(db);
  await sql`create index devices_owner_replica on devices (owner_replica)
    where registration_state = 'registered'`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index devices_owner_replica`.execute(db);
  await sql`alter table devices drop column owner_replica`.execute(db);
}
