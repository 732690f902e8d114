import type { Kysely } from 'kysely';
import type { ResolvedRollout } from '../../manifests/index.js';
import type { Database } from '../../store/index.js';
import type { GateCheck } from '../plan/step-gate.js';

/** The gate's last answers for a rollout's target, by step; empty (no query) without a gate. */
export async function loadGateChecks(
  db: Kysely<Database>,
  rollout: ResolvedRollout,
  sinceUpdateId: number,
): Promise<ReadonlyMap<number, GateCheck>> {
  if (rollout.gate === undefined) return new Map();
  const rows = await db
    .selectFrom('rollout_gate_checks')
    .select(['step', 'verdict', 'reason', 'checked_at'])
    .where('rollout', '=', rollout.name)
    .where('since_update_id', '=', sinceUpdateId)
    .execute();
  return new Map(
    rows.map((r) => [r.step, { verdict: r.verdict, reason: r.reason, checkedAt: r.checked_at.getTime() }]),
  );
}
