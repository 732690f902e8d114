import { type Kysely, sql } from 'kysely';

/**
 * The version order of controller/firmware/version-order.ts, in the database, so a reconcile pass
 * refuses downgrades with the same rule `validate` and `plan` apply.
 *
 * `otactl_version_key(version)` is a text whose byte order ("C" collation) is semver precedence:
 * null when the version is not ordered (not semver with an optional leading `v`, or longer than
 * 99 characters). Each number is its length in two digits then its digits; a release ends in `~`,
 * a prerelease in `-` then its identifiers, numeric ones as `1` + number, alphanumeric ones as
 * `2` + text + `!` (`!` sorts below every character an identifier may hold, and a shorter list is
 * a prefix of a longer one). Build metadata is left out.
 *
 * `devices.firmware_version_key` stores it for every device, as `firmware_version_parts`
 * (migration 0002, dotted numbers only, which called `2.0.0-rc.1` and `v2.0.0` downgrades) did.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create function otactl_version_key(version text) returns text
    language plpgsql immutable strict parallel safe as $$
    declare
      m text[];
      key text := '';
      part text;
    begin
      if length(version) > 99 then return null; end if;
      m := regexp_match(version,
        '^v?(0|[1-9][0-9]*)[.](0|[1-9][0-9]*)[.](0|[1-9][0-9]*)'
        '(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:[.](?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?'
        '(?:[+][0-9a-zA-Z-]+(?:[.][0-9a-zA-Z-]+)*)?$');
      if m is null then return null; end if;
      for i in 1..3 loop
        key := key || lpad(length(m[i])::text, 2, '0') || m[i];
      end loop;
      if m[4] is null then return key || '~'; end if;
      key := key || '-';
      foreach part in array string_to_array(m[4], '.') loop
        if part ~ '^[0-9]+$' then
          key := key || '1' || lpad(length(part)::text, 2, '0') || part;
        else
          key := key || '2' || part || '!';
        end if;
      end loop;
      return key;
    end
    $$`.execute(db);
  await sql`alter table devices
    drop column firmware_version_parts,
    add column firmware_version_key text collate "C"
      generated always as (otactl_version_key(firmware_version)) stored`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table devices
    drop column firmware_version_key,
    add column firmware_version_parts numeric[]
      generated always as (
        case when firmware_version ~ '^[0-9]+(\\.[0-9]+){0,3}$'
          then string_to_array(firmware_version, '.')::numeric[] end
      ) stored`.execute(db);
  await sql`drop function otactl_version_key(text)`.execute(db);
}
