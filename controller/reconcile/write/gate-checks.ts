import type { Kysely } from 'kysely';
import type { Database } from '../../store/index.js';
import type { GateAnswer } from '../../webhooks/gate-request.js';
import { appendRolloutEvent } from './update-store.js';

export interface GateQuestionKey {
  readonly rollout: string;
  /** The rollout's target epoch (rollouts.target_since_update_id). */
  readonly sinceUpdateId: number;
  /** The step (0-based) asked about. */
  readonly step: number;
}

/**
 * Stores the gate's answer as the step's last one, and an event when it differs from the one
 * before (a gate that keeps refusing for the same reason is one event, not one per interval).
 * Not fenced by the planner lease: an answer is a fact about the gate, whoever asked.
 */
export async function recordGateAnswer(
  db: Kysely<Database>,
  key: GateQuestionKey,
  answer: GateAnswer,
  at: number,
  gitRevision: string | null,
): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const before = await tx
      .selectFrom('rollout_gate_checks')
      .select(['verdict', 'reason'])
      .where('rollout', '=', key.rollout)
      .where('since_update_id', '=', key.sinceUpdateId)
      .where('step', '=', key.step)
      .forUpdate()
      .executeTakeFirst();
    const row = {
      verdict: answer.verdict,
      http_status: answer.httpStatus,
      reason: answer.reason,
      checked_at: new Date(at),
    };
    await tx
      .insertInto('rollout_gate_checks')
      .values({ rollout: key.rollout, since_update_id: key.sinceUpdateId, step: key.step, ...row })
      .onConflict((oc) => oc.columns(['rollout', 'since_update_id', 'step']).doUpdateSet(row))
      .execute();
    if (before?.verdict === answer.verdict && before.reason === answer.reason) return;
    await appendRolloutEvent(tx, key.rollout, gitRevision, {
      type: answer.verdict === 'passed' ? 'GatePassed' : 'GateRefused',
      message: `gate ${answer.verdict === 'passed' ? 'let step' : 'holds step'} ${key.step + 1}: ${answer.reason}`,
      details: { step: key.step + 1, httpStatus: answer.httpStatus },
    });
  });
}
