import { type RawBuilder, sql } from 'kysely';

/**
 * `needsAllowDowngrade` (version-order.ts) in SQL, for a `devices` row aliased `device`: its
 * stored key (migration 0008) against the target's, computed once per statement (a scalar
 * subquery), not once per device.
 */
export function needsAllowDowngradeSql(device: string, to: string): RawBuilder<boolean> {
  const version = sql.ref(`${device}.firmware_version`);
  const key = sql.ref(`${device}.firmware_version_key`);
  return sql<boolean>`(${version} is distinct from ${to}
    and not coalesce(${key} <= (select otactl_version_key(${to}::text)) collate "C", false))`;
}
