import type { ObjectModel } from '../model/types.js';
import { recordsToSenml, type SenmlRecord, senmlToRecords } from './senml.js';
import { checkSenmlRecord } from './senml-record-check.js';
import { type DecodeResult, EncodeError, type ResourceRecord } from './types.js';

const FIELD_ORDER = ['bn', 'bt', 'n', 't', 'v', 'vs', 'vb', 'vd', 'vlo'] as const;

function jsonValue(key: string, v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return JSON.stringify(v.toString('base64url'));
  if (typeof v === 'number' && !Number.isFinite(v))
    throw new EncodeError(`'${key}' ${v} cannot be sent in JSON`);
  return JSON.stringify(v);
}

/** SenML JSON (content format 110). Written by hand so that 64-bit integers keep every digit. */
export function encodeSenmlJson(
  basePath: string,
  records: readonly ResourceRecord[],
  model?: ObjectModel,
): Buffer {
  const pack = recordsToSenml(basePath, records, model);
  const text = pack
    .map((r) => {
      const fields = FIELD_ORDER.filter((k) => r[k] !== undefined).map(
        (k) => `${JSON.stringify(k)}:${jsonValue(k, r[k])}`,
      );
      return `{${fields.join(',')}}`;
    })
    .join(',');
  return Buffer.from(`[${text}]`, 'utf8');
}

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

export function decodeSenmlJson(payload: Buffer, model?: ObjectModel): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `invalid JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(parsed)) return { ok: false, error: 'SenML JSON must be an array' };
  const pack: SenmlRecord[] = [];
  for (const [index, item] of parsed.entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      return { ok: false, error: `record ${index} is not an object` };
    }
    const raw = { ...(item as Record<string, unknown>) };
    if (raw.vd !== undefined) {
      if (typeof raw.vd !== 'string' || !BASE64.test(raw.vd)) {
        return { ok: false, error: `record ${index}: 'vd' must be base64` };
      }
      raw.vd = Buffer.from(raw.vd, raw.vd.includes('-') || raw.vd.includes('_') ? 'base64url' : 'base64');
    }
    const checked = checkSenmlRecord(raw, index);
    if (!checked.ok) return checked;
    pack.push(checked.record);
  }
  return senmlToRecords(pack, model);
}
