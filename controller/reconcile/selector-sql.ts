import { type RawBuilder, sql } from 'kysely';
import { globToRegex } from '../manifests/endpoint-glob.js';
import type { DeviceSelector } from '../manifests/index.js';

const ATTRIBUTE_COLUMNS = {
  manufacturer: 'manufacturer',
  model: 'model',
  hardwareVersion: 'hardware_version',
  deviceType: 'device_type',
} as const;

/**
 * The SQL condition (over `devices` aliased `d`) equivalent to `matchesSelector`: the endpoint
 * lists match (either list, or no restriction when both are empty) and every attribute equals.
 */
export function selectorCondition(selector: DeviceSelector): RawBuilder<boolean> {
  const parts: RawBuilder<unknown>[] = [];
  const lists: RawBuilder<unknown>[] = [];
  if (selector.endpoints.length > 0) {
    lists.push(sql`d.endpoint = any(${sql.val([...selector.endpoints])}::text[])`);
  }
  for (const pattern of selector.endpointPatterns) {
    lists.push(sql`d.endpoint ~ ${globToRegex(pattern)}`);
  }
  if (lists.length > 0) parts.push(sql`(${sql.join(lists, sql` or `)})`);
  for (const [attribute, column] of Object.entries(ATTRIBUTE_COLUMNS)) {
    const wanted = selector.attributes[attribute as keyof typeof ATTRIBUTE_COLUMNS];
    if (wanted !== undefined) parts.push(sql`d.${sql.ref(column)} = ${wanted}`);
  }
  if (parts.length === 0) return sql<boolean>`true`;
  return sql<boolean>`(${sql.join(parts, sql` and `)})`;
}
