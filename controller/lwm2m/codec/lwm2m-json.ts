import type { ObjectModel } from '../model/types.js';
import { formatPath, parsePath } from '../path.js';
import { type SenmlRecord, senmlToRecords, senmlValue } from './senml.js';
import { checkSenmlRecord } from './senml-record-check.js';
import { type DecodeResult, EncodeError, type ResourceRecord } from './types.js';

/**
 * LwM2M JSON (content format 11543, LwM2M 1.0): `{"bn":"/3/0/","bt":...,"e":[{"n":"0","sv":"..."}]}` with
 * `v` numbers, `sv` strings (opaque as base64), `bv` booleans and `ov` object links.
 */
export function encodeLwm2mJson(
  basePath: string,
  records: readonly ResourceRecord[],
  model?: ObjectModel,
): Buffer {
  const base = formatPath(parsePath(basePath));
  const paths = records.map((r) => formatPath(parsePath(r.path)));
  // One base name for all entries: the base path, or its parent when a record is the base path itself.
  const bn =
    base === '/' ? '/' : paths.includes(base) ? base.slice(0, base.lastIndexOf('/') + 1) : `${base}/`;
  const entries = records.map((record, i) => {
    const full = paths[i]!;
    if (!full.startsWith(bn)) throw new EncodeError(`record ${record.path} is not under ${basePath}`);
    const r = senmlValue(record, model);
    const fields: string[] = [`"n":${JSON.stringify(full.slice(bn.length))}`];
    if (record.time) fields.push(`"t":${record.time.getTime() / 1000}`);
    if (r.v !== undefined) {
      if (typeof r.v === 'number' && !Number.isFinite(r.v))
        throw new EncodeError(`${r.v} cannot be sent in JSON`);
      fields.push(`"v":${r.v.toString()}`);
    }
    if (r.vs !== undefined) fields.push(`"sv":${JSON.stringify(r.vs)}`);
    if (r.vd !== undefined) fields.push(`"sv":${JSON.stringify(r.vd.toString('base64'))}`);
    if (r.vb !== undefined) fields.push(`"bv":${r.vb}`);
    if (r.vlo !== undefined) fields.push(`"ov":${JSON.stringify(r.vlo)}`);
    return `{${fields.join(',')}}`;
  });
  return Buffer.from(`{"bn":${JSON.stringify(bn)},"e":[${entries.join(',')}]}`, 'utf8');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function decodeLwm2mJson(payload: Buffer, model?: ObjectModel): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `invalid JSON: ${(err as Error).message}` };
  }
  if (!isObject(parsed)) return { ok: false, error: 'LwM2M JSON must be an object' };
  const { bn, bt, e } = parsed;
  if (bn !== undefined && typeof bn !== 'string') return { ok: false, error: "'bn' must be a string" };
  if (bt !== undefined && typeof bt !== 'number') return { ok: false, error: "'bt' must be a number" };
  if (!Array.isArray(e)) return { ok: false, error: "'e' must be an array" };
  const pack: SenmlRecord[] = [];
  for (const [index, item] of e.entries()) {
    if (!isObject(item)) return { ok: false, error: `entry ${index} is not an object` };
    const checked = checkSenmlRecord(
      { n: item.n, t: item.t, v: item.v, vs: item.sv, vb: item.bv, vlo: item.ov },
      index,
    );
    if (!checked.ok) return checked;
    const record = checked.record;
    if (index === 0) {
      if (bn !== undefined) record.bn = bn;
      if (bt !== undefined) record.bt = bt;
    }
    pack.push(record);
  }
  return senmlToRecords(pack, model);
}
