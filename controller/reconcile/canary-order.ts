import { createHash } from 'node:crypto';

/**
 * The canary rank key of a device in a rollout: the first 32 bits of md5("<rollout>:<endpoint>")
 * as a signed integer, exactly what the database sorts by (load-observation.ts), so the canary
 * set can be named in advance and stays the same across restarts.
 */
export function canaryKey(rollout: string, endpoint: string): number {
  return (
    Number.parseInt(createHash('md5').update(`${rollout}:${endpoint}`).digest('hex').slice(0, 8), 16) | 0
  );
}

/** Endpoints in the order a rollout admits them. */
export function canaryOrder(rollout: string, endpoints: readonly string[]): string[] {
  return [...endpoints].sort(
    (a, b) => canaryKey(rollout, a) - canaryKey(rollout, b) || (a < b ? -1 : a > b ? 1 : 0),
  );
}
