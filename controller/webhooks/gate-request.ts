import type { GitCommit, RolloutGate } from '../manifests/index.js';

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

/** The most of an answer's body read: a reason is a line, not a document. */
const MAX_BODY_BYTES = 4096;
/** Stored in a column of this length (rollout_gate_checks.reason). */
export const MAX_REASON_LENGTH = 500;

/**
 * POSTs the payload; a 2xx lets the step start, anything else (another status, a redirect, no
 * answer within the timeout, no connection) refuses it, with the reason in words.
 */
export async function askGate(gate: RolloutGate, payload: GatePayload): Promise<GateAnswer> {
  let response: Response;
  try {
    response = await fetch(gate.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'otactl-gate' },
      body: JSON.stringify(payload),
      redirect: 'manual',
      signal: AbortSignal.timeout(gate.timeoutMs),
    });
  } catch (error) {
    return { verdict: 'refused', httpStatus: null, reason: clip(failureText(error, gate.timeoutMs)) };
  }
  const passed = response.status >= 200 && response.status < 300;
  const said = await reasonIn(response).catch(() => '');
  const status = `HTTP ${response.status}`;
  return {
    verdict: passed ? 'passed' : 'refused',
    httpStatus: response.status,
    reason: clip(said === '' ? status : `${status}: ${said}`),
  };
}

function failureText(error: unknown, timeoutMs: number): string {
  const err = error as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (err.name === 'TimeoutError' || err.name === 'AbortError')
    return `no answer within ${timeoutMs / 1000} s`;
  const cause = err.cause?.code ?? err.cause?.message ?? err.message ?? String(error);
  return `unreachable: ${cause}`;
}

/** The reason a receiver gives: `{"reason": ...}` or `{"message": ...}` JSON, else its first line of text. */
async function reasonIn(response: Response): Promise<string> {
  const text = await readBounded(response);
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const body = JSON.parse(trimmed) as Record<string, unknown>;
      for (const key of ['reason', 'message']) {
        if (typeof body[key] === 'string') return oneLine(body[key]);
      }
    } catch {
      // not JSON after all: the text is the reason
    }
  }
  return oneLine(trimmed);
}

async function readBounded(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < MAX_BODY_BYTES) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => {});
  return Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8');
}

function oneLine(text: string): string {
  // Control characters would garble a log line or a terminal: a reason is printable text.
  return (text.split(/\r?\n/, 1)[0] ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
}

function clip(text: string): string {
  return text.length <= MAX_REASON_LENGTH ? text : `${text.slice(0, MAX_REASON_LENGTH - 1)}…`;
}
