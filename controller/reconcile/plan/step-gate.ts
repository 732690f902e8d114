import type { RolloutGate } from '../../manifests/index.js';

/** The gate's last answer for one step of the current target (a `rollout_gate_checks` row). */
export interface GateCheck {
  readonly verdict: 'passed' | 'refused';
  /** The answer in words: the receiver's reason, or why there was none ("timed out after 10 s"). */
  readonly reason: string;
  readonly checkedAt: number;
}

export type GateDecision =
  | { readonly kind: 'open' }
  /** `ask`: the gate is due to be asked (never asked for this step, or refused an interval ago). */
  | { readonly kind: 'closed'; readonly reason: string; readonly ask: boolean };

/** Whether a step may start as far as the rollout's gate is concerned. Pure. */
export function gateDecision(
  gate: RolloutGate | undefined,
  check: GateCheck | undefined,
  now: number,
): GateDecision {
  if (gate === undefined || check?.verdict === 'passed') return { kind: 'open' };
  if (check === undefined) return { kind: 'closed', reason: `asking ${gate.url}`, ask: true };
  const again = check.checkedAt + gate.intervalMs;
  return {
    kind: 'closed',
    reason: `refused: ${check.reason} (asked ${new Date(check.checkedAt).toISOString()}, again from ${new Date(again).toISOString()})`,
    ask: now >= again,
  };
}
