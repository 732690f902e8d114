import type { SenmlRecord } from './senml.js';

type Check = { ok: true; record: SenmlRecord } | { ok: false; error: string };

/** The fields of one decoded SenML record by their SenML names, as they came (any type). */
export interface RawSenmlRecord {
  bn?: unknown;
  bt?: unknown;
  n?: unknown;
  t?: unknown;
  v?: unknown;
  vs?: unknown;
  vb?: unknown;
  vd?: unknown;
  vlo?: unknown;
}

const notString = (index: number, f: string): Check => ({
  ok: false,
  error: `record ${index}: '${f}' must be a string`,
});
const notNumber = (index: number, f: string): Check => ({
  ok: false,
  error: `record ${index}: '${f}' must be a number`,
});

/** A time field (bt, t) as a number, or undefined when it is not one. */
function timeOf(v: unknown): number | undefined {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return undefined;
}

/**
 * Validates field types of one decoded SenML record whose keys are already the SenML names, in a
 * fixed order (bn, n, vs, vlo, then bt, t, then v, vb, vd: the first wrong one is reported).
 * `vd` must already be a Buffer. Unknown fields are ignored, as RFC 8428 allows. Field by field,
 * not in a loop over names: this runs for every record of every notification.
 */
export function checkSenmlRecord(raw: RawSenmlRecord, index: number): Check {
  const out: SenmlRecord = {};
  const { bn, n, vs, vlo, bt, t, v, vb, vd } = raw;
  if (bn !== undefined) {
    if (typeof bn !== 'string') return notString(index, 'bn');
    out.bn = bn;
  }
  if (n !== undefined) {
    if (typeof n !== 'string') return notString(index, 'n');
    out.n = n;
  }
  if (vs !== undefined) {
    if (typeof vs !== 'string') return notString(index, 'vs');
    out.vs = vs;
  }
  if (vlo !== undefined) {
    if (typeof vlo !== 'string') return notString(index, 'vlo');
    out.vlo = vlo;
  }
  if (bt !== undefined) {
    const time = timeOf(bt);
    if (time === undefined) return notNumber(index, 'bt');
    out.bt = time;
  }
  if (t !== undefined) {
    const time = timeOf(t);
    if (time === undefined) return notNumber(index, 't');
    out.t = time;
  }
  if (v !== undefined) {
    if (typeof v !== 'number' && typeof v !== 'bigint') return notNumber(index, 'v');
    out.v = v;
  }
  if (vb !== undefined) {
    if (typeof vb !== 'boolean') return { ok: false, error: `record ${index}: 'vb' must be a boolean` };
    out.vb = vb;
  }
  if (vd !== undefined) {
    if (!Buffer.isBuffer(vd)) return { ok: false, error: `record ${index}: 'vd' must be binary data` };
    out.vd = vd;
  }
  return { ok: true, record: out };
}
