import { type Kysely, sql } from 'kysely';

/**
 * How each device is registered (issue 19): over plain CoAP ('none') or DTLS with a pre-shared key
 * ('psk'), and the PSK identity its session authenticated. A restored registration keeps both, so
 * its Updates are still checked against its identity after a restart. (0012 was set aside for this;
 * 0013 landed first, and a database that ran 0013 refuses a migration ordered before it.)
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table devices
    add column security text not null default 'none'
      constraint devices_security_mode check (security in ('none', 'psk')),
    add column psk_identity text
      constraint devices_psk_identity_length check (octet_length(psk_identity) between 1 and 256)`.execute(
    db,
  );
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table devices drop column security, drop column psk_identity`.execute(db);
}
