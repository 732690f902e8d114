import type { GitCommit, RolloutGate } from '../manifests/index.js';
import { clipReason, postJson, reasonInAnswer } from './post-json.js';

/** What a gate receives: enough to decide (or to query a metrics system) without calling back. */
export interface GatePayload {
  readonly type: 'otactl.gate';
  readonly rollout: string;
  /** The step (1-based) that would start, of `steps`. */
  readonly step: number;
  readonly steps: number;
  /** Its cumulative share of the group. */
  readonly percent: number;
  readonly target: { readonly firmware: string; readonly version: string };
  readonly counts: Readonly<Record<string, unknown>>;
  /** The commit of the Rollout manifest; null when git does not track it. */
  readonly revision: GitCommit | null;
  readonly time: string;
}

export interface GateAnswer {
  readonly verdict: 'passed' | 'refused';
  readonly httpStatus: number | null;
  /** The receiver's reason (its `reason` or `message` JSON field, else the first line of text), or why no answer came. */
  readonly reason: string;
}

/** Stored in a column of this length (rollout_gate_checks.reason). */
export const MAX_REASON_LENGTH = 500;

/**
 * POSTs the payload; a 2xx lets the step start, anything else (another status, a redirect, no
 * answer within the timeout, no connection) refuses it, with the reason in words.
 */
export async function askGate(gate: RolloutGate, payload: GatePayload): Promise<GateAnswer> {
  const outcome = await postJson(
    gate.url,
    JSON.stringify(payload),
    { 'user-agent': 'otactl-gate' },
    gate.timeoutMs,
  );
  if (outcome.kind === 'failed') {
    return { verdict: 'refused', httpStatus: null, reason: clipReason(outcome.reason, MAX_REASON_LENGTH) };
  }
  const passed = outcome.status >= 200 && outcome.status < 300;
  const said = reasonInAnswer(outcome.text);
  const status = `HTTP ${outcome.status}`;
  return {
    verdict: passed ? 'passed' : 'refused',
    httpStatus: outcome.status,
    reason: clipReason(said === '' ? status : `${status}: ${said}`, MAX_REASON_LENGTH),
  };
}
