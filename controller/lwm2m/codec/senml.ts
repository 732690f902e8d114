import type { ObjectModel } from '../model/types.js';
import { formatPath, type Lwm2mPath, parsePath, pathDepth, tryParsePath } from '../path.js';
import { type DecodeResult, EncodeError, type ResourceRecord, type ResourceValue } from './types.js';
import {
  conform,
  encodeType,
  formatObjlnk,
  modelType,
  parseObjlnk,
  secondsOf,
  stringOf,
  toBigInt,
  toBoolean,
  toBuffer,
  toNumber,
  toObjlnk,
} from './value.js';

/** A SenML record (RFC 8428) with the fields LwM2M uses; shared by the JSON and CBOR representations. */
export interface SenmlRecord {
  bn?: string;
  bt?: number;
  n?: string;
  t?: number;
  v?: number | bigint;
  vs?: string;
  vb?: boolean;
  vd?: Buffer;
  vlo?: string;
}

/** SenML times below 2^28 are relative to "now" (RFC 8428 §4.5.3); only absolute times are kept. */
const RELATIVE_TIME_LIMIT = 2 ** 28;

function parent(path: Lwm2mPath): string {
  const depth = pathDepth(path);
  const segs = [path.objectId, path.instanceId, path.resourceId, path.resourceInstanceId].slice(0, depth - 1);
  return `/${segs.join('/')}/`;
}

/** The SenML value field for one record, by the model type (or the value's own type). */
export function senmlValue(record: ResourceRecord, model: ObjectModel | undefined): SenmlRecord {
  const { path, value } = record;
  const type = encodeType(model, path, value);
  const fail = (): never => {
    throw new EncodeError(`value ${stringOf(value)} of ${path} is not valid for type ${type}`);
  };
  switch (type) {
    case 'integer':
    case 'unsignedInteger': {
      const n = toBigInt(value) ?? fail();
      const small = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER);
      return { v: small ? Number(n) : n };
    }
    case 'time':
      return { v: value instanceof Date ? secondsOf(value) : (toNumber(value) ?? fail()) };
    case 'float':
      return { v: toNumber(value) ?? fail() };
    case 'boolean':
      return { vb: toBoolean(value) ?? fail() };
    case 'opaque':
      return { vd: toBuffer(value) };
    case 'objlnk':
      return { vlo: formatObjlnk(toObjlnk(value) ?? fail()) };
    default:
      return { vs: stringOf(value) };
  }
}

/**
 * Records to SenML: the first record carries `bn` = the base path with a trailing slash and each `n` is the
 * rest of the path ('/3/0/' + '6/0'). A record at the base path itself uses its parent as `bn`.
 */
export function recordsToSenml(
  basePath: string,
  records: readonly ResourceRecord[],
  model: ObjectModel | undefined,
): SenmlRecord[] {
  const base = parsePath(basePath);
  const baseText = formatPath(base);
  const prefix = baseText === '/' ? '/' : `${baseText}/`;
  let currentBn: string | undefined;
  return records.map((record) => {
    const path = parsePath(record.path);
    if (pathDepth(path) < 3) throw new EncodeError(`record path ${record.path} is not a resource`);
    const full = formatPath(path);
    const bn = full.startsWith(prefix) ? prefix : parent(path);
    const out: SenmlRecord = {};
    if (bn !== currentBn) {
      out.bn = bn;
      currentBn = bn;
    }
    out.n = full.slice(bn.length);
    if (record.time) out.t = record.time.getTime() / 1000;
    return Object.assign(out, senmlValue(record, model));
  });
}

/** Joins bn and n; tolerant of '/5/0/' + '3', '/5/0' + '/3', and '/5/0' + '3'. */
export function joinName(bn: string, n: string): string {
  if (bn === '' || n === '') return bn + n;
  const a = bn.endsWith('/');
  const b = n.startsWith('/');
  if (a && b) return bn + n.slice(1);
  if (!a && !b) return `${bn}/${n}`;
  return bn + n;
}

function rawValue(r: SenmlRecord): ResourceValue | string | undefined {
  if (r.v !== undefined) return r.v;
  if (r.vs !== undefined) return r.vs;
  if (r.vb !== undefined) return r.vb;
  if (r.vd !== undefined) return r.vd;
  return undefined;
}

export function senmlToRecords(pack: readonly SenmlRecord[], model: ObjectModel | undefined): DecodeResult {
  const records: ResourceRecord[] = [];
  let bn = '';
  let bt = 0;
  for (let index = 0; index < pack.length; index++) {
    const r = pack[index]!;
    if (r.bn !== undefined) bn = r.bn;
    if (r.bt !== undefined) bt = r.bt;
    const name = joinName(bn, r.n ?? '');
    const path = tryParsePath(name);
    if (!path || pathDepth(path) < 3)
      return { ok: false, error: `record ${index}: '${name}' is not a resource path` };
    const full = formatPath(path);
    const type = modelType(model, full);
    let value: ResourceValue;
    if (r.vlo !== undefined) {
      const link = parseObjlnk(r.vlo);
      if (!link) return { ok: false, error: `record ${index}: vlo '${r.vlo}' is not an objlnk` };
      value = link;
    } else {
      const raw = rawValue(r);
      // A record without a value (e.g. a path in a composite request) carries no resource value.
      if (raw === undefined) continue;
      value = conform(type, raw);
    }
    const t = bt + (r.t ?? 0);
    const time = Number.isFinite(t) && t >= RELATIVE_TIME_LIMIT ? new Date(t * 1000) : undefined;
    records.push(time ? { path: full, value, time } : { path: full, value });
  }
  return { ok: true, records };
}
