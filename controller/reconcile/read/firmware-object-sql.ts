import { type RawBuilder, sql } from 'kysely';

/**
 * A link to object 5 or one of its instances in a stored Register body: `</5>`, `</5/0>`, `<5/0>`,
 * or under an alternate root path (`</lwm2m/5/0>`), with what follows the link ignored. The
 * segment before the `5`, if any, must not be a number: `</3/5>` is object 3's instance 5.
 */
const FIRMWARE_LINK = '<(/*|[^<>]*[^0-9/<>][^/<>]*/+)0{0,4}5(/+[0-9]{1,5})?/*>';

/**
 * `hasFirmwareObject` (devices/firmware-report.ts) in SQL, for a `devices` row aliased `device`:
 * whether its registration announced the Firmware Update object, the one device sync observes
 * 5/0/3 of. It reads the stored `object_links` with a pattern, not the link parser: the two agree
 * on every body a device registers with (test/reconcile/firmware-object-sql.test.ts), and differ
 * only where a body names object 5 under a path that is not its root (the pattern says yes), which
 * at worst makes such a device wait for a State it will not report. A row without links has none.
 */
export function hasFirmwareObjectSql(device: string): RawBuilder<boolean> {
  return sql<boolean>`coalesce(${sql.ref(`${device}.object_links`)} ~ ${sql.lit(FIRMWARE_LINK)}, false)`;
}
