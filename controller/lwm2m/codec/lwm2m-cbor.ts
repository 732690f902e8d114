import { Decoder, Encoder } from 'cbor-x';
import type { ObjectModel } from '../model/types.js';
import { formatPath, parsePath, pathDepth } from '../path.js';
import { type DecodeResult, EncodeError, type ResourceRecord, type ResourceValue } from './types.js';
import {
  conform,
  encodeType,
  formatObjlnk,
  modelType,
  secondsOf,
  stringOf,
  toBigInt,
  toBoolean,
  toBuffer,
  toNumber,
  toObjlnk,
} from './value.js';

/**
 * LwM2M CBOR (content format 11544, LwM2M 1.2): nested maps keyed by path segments from the root,
 * `{3: {0: {0: "Open Mobile Alliance", 6: {0: 1, 1: 5}}}}`. A key may also be an array of segments
 * (`{[3, 0]: {...}}`); decoding accepts both, encoding writes plain nesting.
 */
const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  tagUint8Array: false,
  variableMapSize: true,
});
const decoderOptions = { useRecords: false, mapsAsObjects: false, int64AsType: 'bigint' };
const decoder = new Decoder(decoderOptions as ConstructorParameters<typeof Decoder>[0]);

function cborValue(record: ResourceRecord, model: ObjectModel | undefined): unknown {
  const { path, value } = record;
  const type = encodeType(model, path, value);
  const fail = (): never => {
    throw new EncodeError(`value ${stringOf(value)} of ${path} is not valid for type ${type}`);
  };
  switch (type) {
    case 'integer':
    case 'unsignedInteger': {
      const n = toBigInt(value) ?? fail();
      return Number.isSafeInteger(Number(n)) ? Number(n) : n;
    }
    case 'time':
      return value instanceof Date ? secondsOf(value) : (toNumber(value) ?? fail());
    case 'float':
      return toNumber(value) ?? fail();
    case 'boolean':
      return toBoolean(value) ?? fail();
    case 'opaque':
      return toBuffer(value);
    case 'objlnk':
      return formatObjlnk(toObjlnk(value) ?? fail());
    default:
      return stringOf(value);
  }
}

type Tree = Map<number, Tree | unknown>;

export function encodeLwm2mCbor(
  basePath: string,
  records: readonly ResourceRecord[],
  model?: ObjectModel,
): Buffer {
  parsePath(basePath);
  const root: Tree = new Map();
  for (const record of records) {
    const p = parsePath(record.path);
    const segs = [p.objectId, p.instanceId, p.resourceId, p.resourceInstanceId].slice(
      0,
      pathDepth(p),
    ) as number[];
    if (segs.length < 3) throw new EncodeError(`record path ${record.path} is not a resource`);
    let node = root;
    for (const seg of segs.slice(0, -1)) {
      let next = node.get(seg);
      if (next === undefined) {
        next = new Map();
        node.set(seg, next);
      }
      if (!(next instanceof Map))
        throw new EncodeError(`resource ${record.path} given both as single and multiple`);
      node = next as Tree;
    }
    const last = segs[segs.length - 1]!;
    if (node.has(last))
      throw new EncodeError(`resource ${record.path} given twice or as single and multiple`);
    node.set(last, cborValue(record, model));
  }
  return Buffer.from(encoder.encode(root));
}

function isSegment(k: unknown): k is number {
  return typeof k === 'number' && Number.isInteger(k) && k >= 0 && k <= 65535;
}

export function decodeLwm2mCbor(payload: Buffer, model?: ObjectModel): DecodeResult {
  let parsed: unknown;
  try {
    parsed = decoder.decode(payload);
  } catch (err) {
    return { ok: false, error: `invalid CBOR: ${(err as Error).message}` };
  }
  if (!(parsed instanceof Map)) return { ok: false, error: 'LwM2M CBOR must be a map' };
  const records: ResourceRecord[] = [];
  const walk = (node: Map<unknown, unknown>, prefix: number[]): string | undefined => {
    for (const [key, value] of node) {
      const keySegs = Array.isArray(key) ? key : [key];
      if (keySegs.length === 0 || !keySegs.every(isSegment))
        return `invalid key ${String(key)} under /${prefix.join('/')}`;
      const segs = [...prefix, ...keySegs];
      if (segs.length > 4) return `path /${segs.join('/')} is too deep`;
      if (value instanceof Map) {
        const error = walk(value, segs);
        if (error) return error;
        continue;
      }
      if (segs.length < 3) return `value at /${segs.join('/')} is not a resource`;
      const path = formatPath({
        objectId: segs[0]!,
        instanceId: segs[1]!,
        resourceId: segs[2]!,
        ...(segs[3] === undefined ? {} : { resourceInstanceId: segs[3] }),
      });
      const raw = value instanceof Date ? value : value instanceof Uint8Array ? Buffer.from(value) : value;
      if (
        !['string', 'number', 'bigint', 'boolean'].includes(typeof raw) &&
        !Buffer.isBuffer(raw) &&
        !(raw instanceof Date)
      ) {
        return `unsupported value at ${path}`;
      }
      records.push({ path, value: conform(modelType(model, path), raw as ResourceValue) });
    }
    return undefined;
  };
  const error = walk(parsed, []);
  return error ? { ok: false, error } : { ok: true, records };
}
