import { createHash } from 'node:crypto';
import type { ResolvedRollout } from '../../manifests/index.js';

/**
 * A hash of what a Rollout asks for (its spec with group and firmware resolved), not of where it
 * came from: a commit that changes the Rollout changes it, one that only touches other files does not.
 */
export function rolloutGeneration(rollout: ResolvedRollout): string {
  const json = JSON.stringify(rollout, (key, value) => (key === 'source' ? undefined : value));
  return createHash('sha256').update(json).digest('hex').slice(0, 16);
}
