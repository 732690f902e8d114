import { type Kysely, sql } from 'kysely';

/**
 * Pre-shared keys of devices that authenticate over DTLS (issue 19): one credential per endpoint,
 * each identity names one endpoint. Secrets live here, never in the manifests repository. The
 * bounds are controller/credentials/credential-rules.ts's, spelled out as they were when this
 * migration was written (test/credentials/credential-rules.test.ts holds the two together).
 *
 * The identity's uniqueness is deferrable so that one import can move identities between
 * endpoints (a swap) and be checked at its end; lookups use the same index.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table device_credentials (
    endpoint text primary key
      constraint device_credentials_endpoint_length check (octet_length(endpoint) between 1 and 255),
    psk_identity text not null
      constraint device_credentials_identity_length check (octet_length(psk_identity) between 1 and 256),
    psk_key bytea not null
      constraint device_credentials_key_length check (length(psk_key) between 16 and 64),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint device_credentials_identity_unique unique (psk_identity) deferrable initially immediate
  )`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table device_credentials`.execute(db);
}
