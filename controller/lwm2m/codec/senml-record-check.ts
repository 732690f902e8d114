import type { SenmlRecord } from './senml.js';

type Check = { ok: true; record: SenmlRecord } | { ok: false; error: string };

const STRING_FIELDS = ['bn', 'n', 'vs', 'vlo'] as const;
const NUMBER_FIELDS = ['bt', 't'] as const;

/**
 * Validates field types of one decoded SenML record whose keys are already the SenML names.
 * `vd` must already be a Buffer. Unknown fields are ignored, as RFC 8428 allows.
 */
export function checkSenmlRecord(raw: Record<string, unknown>, index: number): Check {
  const out: SenmlRecord = {};
  for (const f of STRING_FIELDS) {
    const v = raw[f];
    if (v === undefined) continue;
    if (typeof v !== 'string') return { ok: false, error: `record ${index}: '${f}' must be a string` };
    out[f] = v;
  }
  for (const f of NUMBER_FIELDS) {
    const v = raw[f];
    if (v === undefined) continue;
    if (typeof v === 'bigint') out[f] = Number(v);
    else if (typeof v === 'number' && Number.isFinite(v)) out[f] = v;
    else return { ok: false, error: `record ${index}: '${f}' must be a number` };
  }
  const v = raw.v;
  if (v !== undefined) {
    if (typeof v !== 'number' && typeof v !== 'bigint')
      return { ok: false, error: `record ${index}: 'v' must be a number` };
    out.v = v;
  }
  const vb = raw.vb;
  if (vb !== undefined) {
    if (typeof vb !== 'boolean') return { ok: false, error: `record ${index}: 'vb' must be a boolean` };
    out.vb = vb;
  }
  const vd = raw.vd;
  if (vd !== undefined) {
    if (!Buffer.isBuffer(vd)) return { ok: false, error: `record ${index}: 'vd' must be binary data` };
    out.vd = vd;
  }
  return { ok: true, record: out };
}
