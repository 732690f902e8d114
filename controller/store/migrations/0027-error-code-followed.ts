import type { Kysely } from 'kysely';

/**
 * `devices.error_code_followed_in`: the registration under which 3/0/11 is followed during a bake
 * (observed, or read when quiet where the device refused the observation). A bake whose device's
 * registration differs (a new Register, or never) observes 3/0/11 first (issue 21).
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').addColumn('error_code_followed_in', 'text').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').dropColumn('error_code_followed_in').execute();
}
