import type { Insertable } from 'kysely';
import type { DevicesTable } from '../store/schema.js';

/** Columns of one device row to set, keyed by endpoint; absent columns are left as they are. */
export type DevicePatch = { readonly endpoint: string; readonly updated_at: Date } & Partial<
  Omit<Insertable<DevicesTable>, 'id' | 'endpoint' | 'updated_at' | 'created_at' | 'labels'>
>;

/** Later columns win; both patches are for the same endpoint. */
export function mergePatches(older: DevicePatch | undefined, newer: DevicePatch): DevicePatch {
  if (older === undefined) return newer;
  const out: Record<string, unknown> = { ...older };
  for (const [k, v] of Object.entries(newer)) if (v !== undefined) out[k] = v;
  return out as DevicePatch;
}
