import { type Kysely, sql } from 'kysely';

/**
 * What a device refused, and the reset that put it back to Idle, on the update's row:
 * - `refusal_code`: the CoAP code of the last refused Package URI write (`package_uri` holds the
 *   URI), `refusal_state` and `refusal_result` the device's 5/0/3 and 5/0/5 at that moment (null
 *   when unknown; as the device reported them, unchecked, like `devices.fw_state`), `refused_at` when.
 * - `reset_at`: when the controller last brought the device back to Idle (Cancel 5/0/10 or an
 *   empty 5/0/1) before writing the Package URI; the URI is written once the device reports
 *   State 0 after it.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table firmware_updates
    add column refusal_code text check (refusal_code ~ '^[0-7]\\.[0-9]{2}$'),
    add column refusal_state smallint,
    add column refusal_result smallint,
    add column refused_at timestamptz,
    add column reset_at timestamptz`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table firmware_updates
    drop column refusal_code,
    drop column refusal_state,
    drop column refusal_result,
    drop column refused_at,
    drop column reset_at`.execute(db);
}
