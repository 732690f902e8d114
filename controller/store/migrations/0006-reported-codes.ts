import { type Kysely, sql } from 'kysely';

/**
 * The object 5 codes a device reports are held to the ranges of object 5 v1.2
 * (controller/devices/reported-code.ts checks them before every write): 5/0/3 State 0..3,
 * 5/0/5 Update Result 0..11, 5/0/8 Protocol Support 0..5, 5/0/9 Delivery Method 0..2.
 *
 * A State or Result outside its range is kept as NULL, with what the device sent in
 * `fw_state_raw` / `fw_result_raw` (shown as "unknown code N"). Rows written before this check
 * are normalised the same way first; out-of-range 5/0/8 and 5/0/9 values are dropped, as the spec
 * tells a server to ignore them.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table devices add column fw_state_raw text, add column fw_result_raw text`.execute(db);
  await sql`update devices set fw_state_raw = fw_state::text, fw_state = null
    where fw_state not between 0 and 3`.execute(db);
  await sql`update devices set fw_result_raw = fw_result::text, fw_result = null
    where fw_result not between 0 and 11`.execute(db);
  await sql`update devices set fw_delivery_method = null where fw_delivery_method not between 0 and 2`.execute(
    db,
  );
  await sql`update devices
    set fw_protocol_support = array(select p from unnest(fw_protocol_support) p where p between 0 and 5)
    where not (fw_protocol_support <@ array[0, 1, 2, 3, 4, 5]::smallint[])`.execute(db);
  await sql`update devices set lifetime_s = 1 where lifetime_s < 1`.execute(db);
  await sql`alter table devices
    add constraint devices_fw_state_range check (fw_state between 0 and 3),
    add constraint devices_fw_result_range check (fw_result between 0 and 11),
    add constraint devices_fw_delivery_method_range check (fw_delivery_method between 0 and 2),
    add constraint devices_fw_protocol_support_range
      check (fw_protocol_support <@ array[0, 1, 2, 3, 4, 5]::smallint[]),
    add constraint devices_fw_state_raw_unknown_only check (fw_state_raw is null or fw_state is null),
    add constraint devices_fw_result_raw_unknown_only check (fw_result_raw is null or fw_result is null),
    add constraint devices_fw_raw_length check (length(fw_state_raw) <= 64 and length(fw_result_raw) <= 64),
    add constraint devices_lifetime_range check (lifetime_s >= 1)`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table devices
    drop constraint devices_fw_state_range,
    drop constraint devices_fw_result_range,
    drop constraint devices_fw_delivery_method_range,
    drop constraint devices_fw_protocol_support_range,
    drop constraint devices_fw_state_raw_unknown_only,
    drop constraint devices_fw_result_raw_unknown_only,
    drop constraint devices_fw_raw_length,
    drop constraint devices_lifetime_range,
    drop column fw_state_raw,
    drop column fw_result_raw`.execute(db);
}
