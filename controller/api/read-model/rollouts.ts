import type { Kysely } from 'kysely';
import { loadCommits } from '../../store/commits.js';
import type { Database } from '../../store/schema.js';
import { rolloutRevisions, toRolloutView, toUpdateView, updateRevisions } from './to-view.js';
import type { RolloutDetailView, RolloutView } from './views.js';

export const RECENT_FAILURES = 20;

/** Every rollout the reconciler knows, removed ones last, then by name. */
export async function listRollouts(db: Kysely<Database>): Promise<RolloutView[]> {
  const rows = await db
    .selectFrom('rollouts')
    .selectAll()
    .orderBy((eb) => eb('removed_at', 'is not', null))
    .orderBy('name')
    .execute();
  const commits = await loadCommits(db, rows.flatMap(rolloutRevisions));
  return rows.map((row) => toRolloutView(row, commits));
}

export async function getRollout(db: Kysely<Database>, name: string): Promise<RolloutDetailView | undefined> {
  const row = await db.selectFrom('rollouts').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) return undefined;
  const failures = await db
    .selectFrom('firmware_updates')
    .selectAll()
    .where('rollout', '=', name)
    .where('outcome', '=', 'failed')
    .orderBy('finished_at', 'desc')
    .orderBy('id', 'desc')
    .limit(RECENT_FAILURES)
    .execute();
  const commits = await loadCommits(db, [...rolloutRevisions(row), ...failures.flatMap(updateRevisions)]);
  return {
    ...toRolloutView(row, commits),
    recentFailures: failures.map((failure) => toUpdateView(failure, commits)),
  };
}
