import type { Kysely } from 'kysely';
import { type Fence, type FencedResult, fencedWrite } from '../../replicas/index.js';
import type { Database } from '../../store/index.js';

/**
 * Who plans the rollouts on this database. `sole`: a controller without a lease (tools, tests, the
 * bench), whose writes are not fenced. `leader`: the holder of the planner lease; its writes carry
 * the fence and the database refuses them once the lease is another's. `follower`: plans nothing
 * (it still reads the rollouts to drive its updates).
 */
export type PlannerRole =
  | { readonly kind: 'sole' }
  | { readonly kind: 'leader'; readonly fence: Fence }
  | { readonly kind: 'follower' };

/** Where a pass learns its role, and reports a fence the database refused. */
export interface Leadership {
  role(): PlannerRole;
  lost(fence: Fence): void;
}

export const SOLE_PLANNER: Leadership = { role: () => ({ kind: 'sole' }), lost: () => {} };

/**
 * The rollout planner's writes (status rows, rollout events, starts) in one transaction, fenced when
 * the role is `leader`. A follower writes nothing.
 */
export async function plannerWrite<T>(
  db: Kysely<Database>,
  role: PlannerRole,
  write: (db: Kysely<Database>) => Promise<T>,
): Promise<FencedResult<T>> {
  switch (role.kind) {
    case 'sole':
      return { kind: 'written', value: await db.transaction().execute(write) };
    case 'leader':
      return fencedWrite(db, role.fence, write);
    case 'follower':
      return { kind: 'refused' };
  }
}
