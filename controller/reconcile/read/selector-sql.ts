import { type RawBuilder, sql } from 'kysely';
import { globToRegex } from '../../manifests/endpoint-glob.js';
import type { DeviceSelector } from '../../manifests/index.js';

const ATTRIBUTE_COLUMNS = {
  manufacturer: 'manufacturer',
  model: 'model',
  hardwareVersion: 'hardware_version',
  deviceType: 'device_type',
} as const;

/**
 * The SQL condition (over `devices` aliased `d`) equivalent to `matchesSelector`: the endpoint
 * lists match (either list, or no restriction when both are empty) and every attribute equals.
 * With `unknownAttributes: 'may-match'` an attribute not read yet (null) does not rule a device
 * out: for devices whose object 3 was never read, that might belong to the group.
 */
export function selectorCondition(
  selector: DeviceSelector,
  options: { readonly unknownAttributes?: 'no-match' | 'may-match' } = {},
): RawBuilder<boolean> {
  const parts: RawBuilder<unknown>[] = [];
  const lists: RawBuilder<unknown>[] = [];
  if (selector.endpoints.length > 0) {
    lists.push(sql`d.endpoint = any(${sql.val([...selector.endpoints])}::text[])`);
  }
  for (const pattern of selector.endpointPatterns) lists.push(endpointPatternCondition(pattern));
  if (lists.length > 0) parts.push(sql`(${sql.join(lists, sql` or `)})`);
  for (const [attribute, column] of Object.entries(ATTRIBUTE_COLUMNS)) {
    const wanted = selector.attributes[attribute as keyof typeof ATTRIBUTE_COLUMNS];
    if (wanted === undefined) continue;
    parts.push(
      options.unknownAttributes === 'may-match'
        ? sql`(d.${sql.ref(column)} = ${wanted} or d.${sql.ref(column)} is null)`
        : sql`d.${sql.ref(column)} = ${wanted}`,
    );
  }
  if (parts.length === 0) return sql<boolean>`true`;
  return sql<boolean>`(${sql.join(parts, sql` and `)})`;
}

/** Characters that can carry a glob meaning: a prefix holding one goes through the regular expression. */
const GLOB_SPECIAL = /[\\*?[\]{},]/;

/**
 * The SQL test of one endpoint glob. The common shapes, a literal, `prefix*` and `prefix**`, are
 * written with `=` and LIKE: the same set as the regular expression (a `*` matches no `/`), at a
 * fraction of its cost per row, and the planner estimates them from the column's statistics.
 */
export function endpointPatternCondition(glob: string): RawBuilder<boolean> {
  const star = glob.endsWith('**') ? '**' : glob.endsWith('*') ? '*' : '';
  const prefix = glob.slice(0, glob.length - star.length);
  if (GLOB_SPECIAL.test(prefix)) return sql<boolean>`d.endpoint ~ ${globToRegex(glob)}`;
  if (star === '') return sql<boolean>`d.endpoint = ${prefix}`;
  const like = prefix.replace(/[%_]/g, (ch) => `\\${ch}`);
  if (star === '**') return sql<boolean>`d.endpoint like ${`${like}%`}`;
  return sql<boolean>`(d.endpoint like ${`${like}%`} and d.endpoint not like ${`${like}%/%`})`;
}
