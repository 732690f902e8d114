import type { Kysely } from 'kysely';
import type { PreviousTargets } from '../../manifests/index.js';
import type { Database } from '../../store/index.js';

/**
 * The version each Rollout still in git last installed, from the spec the reconciler stored: the
 * baseline a downgrade is refused against when no manifests were loaded yet (offline `plan`, a
 * controller starting).
 */
export async function loadAppliedTargets(db: Kysely<Database>): Promise<PreviousTargets> {
  const rows = await db
    .selectFrom('rollouts')
    .select(['name', 'spec'])
    .where('removed_at', 'is', null)
    .execute();
  const rollouts = new Map<string, { firmware: { version: string } }>();
  for (const row of rows) {
    const version = (row.spec as { targetVersion?: unknown } | null)?.targetVersion;
    if (typeof version === 'string') rollouts.set(row.name, { firmware: { version } });
  }
  return { rollouts };
}
