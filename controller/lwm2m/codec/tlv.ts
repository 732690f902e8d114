import type { ObjectModel, ResourceType } from '../model/types.js';
import { formatPath, type Lwm2mPath, PathError, parsePath, pathDepth } from '../path.js';
import {
  type DecodeResult,
  EncodeError,
  objectLink,
  type ResourceRecord,
  type ResourceValue,
} from './types.js';
import {
  dateFromSeconds,
  encodeType,
  fromBigInt,
  modelType,
  stringOf,
  toBigInt,
  toBoolean,
  toBuffer,
  toNumber,
  toObjlnk,
} from './value.js';

/** OMA LwM2M TLV (content format 11542). Bits 7-6 of the type byte say what an entry identifies. */
export const TlvKind = {
  OBJECT_INSTANCE: 0b00,
  RESOURCE_INSTANCE: 0b01,
  MULTIPLE_RESOURCE: 0b10,
  RESOURCE: 0b11,
} as const;
export type TlvKind = (typeof TlvKind)[keyof typeof TlvKind];

export interface TlvEntry {
  readonly kind: TlvKind;
  readonly id: number;
  readonly value: Buffer;
  /** Nested entries of an object instance or a multiple resource. */
  readonly children?: readonly TlvEntry[];
}

const MAX_LENGTH = 0xffffff;

/** One TLV entry: type byte, 8- or 16-bit identifier, then a length in the type byte or 1/2/3 extra bytes. */
export function writeTlv(kind: TlvKind, id: number, value: Buffer): Buffer {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff)
    throw new EncodeError(`TLV identifier ${id} out of range`);
  const len = value.length;
  if (len > MAX_LENGTH) throw new EncodeError(`TLV value of ${len} bytes exceeds 24-bit length`);
  const wideId = id > 0xff;
  let type = (kind << 6) | (wideId ? 0b0010_0000 : 0);
  let lengthBytes: Buffer;
  if (len <= 7) {
    type |= len;
    lengthBytes = Buffer.alloc(0);
  } else if (len <= 0xff) {
    type |= 0b01 << 3;
    lengthBytes = Buffer.from([len]);
  } else if (len <= 0xffff) {
    type |= 0b10 << 3;
    lengthBytes = Buffer.from([len >> 8, len & 0xff]);
  } else {
    type |= 0b11 << 3;
    lengthBytes = Buffer.from([len >> 16, (len >> 8) & 0xff, len & 0xff]);
  }
  const idBytes = wideId ? Buffer.from([id >> 8, id & 0xff]) : Buffer.from([id]);
  return Buffer.concat([Buffer.from([type]), idBytes, lengthBytes, value]);
}

export type TlvReadResult =
  | { readonly ok: true; readonly entries: TlvEntry[] }
  | { readonly ok: false; readonly error: string };

/** Parses a TLV sequence; object instances and multiple resources are parsed recursively. */
export function readTlvs(buf: Buffer, depth = 0): TlvReadResult {
  const entries: TlvEntry[] = [];
  let i = 0;
  while (i < buf.length) {
    const type = buf[i]!;
    const kind = (type >> 6) as TlvKind;
    const idLen = type & 0b0010_0000 ? 2 : 1;
    const lenType = (type >> 3) & 0b11;
    const headerLen = 1 + idLen + lenType;
    if (i + headerLen > buf.length) return { ok: false, error: `truncated TLV header at offset ${i}` };
    const id = idLen === 2 ? buf.readUInt16BE(i + 1) : buf[i + 1]!;
    let len = type & 0b111;
    if (lenType > 0) {
      len = 0;
      for (let k = 0; k < lenType; k++) len = (len << 8) | buf[i + 1 + idLen + k]!;
    }
    const start = i + headerLen;
    if (start + len > buf.length) {
      return {
        ok: false,
        error: `TLV at offset ${i} declares ${len} bytes, only ${buf.length - start} remain`,
      };
    }
    const value = buf.subarray(start, start + len);
    if (kind === TlvKind.OBJECT_INSTANCE || kind === TlvKind.MULTIPLE_RESOURCE) {
      if (depth >= 2) return { ok: false, error: `TLV nested too deeply at offset ${i}` };
      const inner = readTlvs(value, depth + 1);
      if (!inner.ok) return inner;
      if (
        kind === TlvKind.MULTIPLE_RESOURCE &&
        inner.entries.some((e) => e.kind !== TlvKind.RESOURCE_INSTANCE)
      ) {
        return {
          ok: false,
          error: `multiple resource ${id} contains something other than resource instances`,
        };
      }
      if (kind === TlvKind.OBJECT_INSTANCE && inner.entries.some((e) => e.kind === TlvKind.OBJECT_INSTANCE)) {
        return { ok: false, error: `object instance ${id} contains an object instance` };
      }
      entries.push({ kind, id, value, children: inner.entries });
    } else {
      entries.push({ kind, id, value });
    }
    i = start + len;
  }
  return { ok: true, entries };
}

// ---- values ------------------------------------------------------------------------------------

function encodeSigned(n: bigint): Buffer {
  if (n >= -0x80n && n <= 0x7fn) return Buffer.from([Number(BigInt.asUintN(8, n))]);
  if (n >= -0x8000n && n <= 0x7fffn) {
    const b = Buffer.alloc(2);
    b.writeInt16BE(Number(n));
    return b;
  }
  if (n >= -0x8000_0000n && n <= 0x7fff_ffffn) {
    const b = Buffer.alloc(4);
    b.writeInt32BE(Number(n));
    return b;
  }
  if (n < -(2n ** 63n) || n >= 2n ** 63n) throw new EncodeError(`integer ${n} does not fit in 64 bits`);
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
}

function encodeUnsigned(n: bigint): Buffer {
  if (n < 0n) throw new EncodeError(`unsigned integer ${n} is negative`);
  if (n <= 0xffn) return Buffer.from([Number(n)]);
  if (n <= 0xffffn) {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(Number(n));
    return b;
  }
  if (n <= 0xffff_ffffn) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(Number(n));
    return b;
  }
  if (n >= 2n ** 64n) throw new EncodeError(`unsigned integer ${n} does not fit in 64 bits`);
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

function mustInteger(value: ResourceValue, type: ResourceType): bigint {
  const n = toBigInt(value);
  if (n === undefined) throw new EncodeError(`value ${stringOf(value)} is not valid for type ${type}`);
  return n;
}

/** The bytes of one value in TLV, as the spec defines per data type. */
export function encodeTlvValue(type: ResourceType, value: ResourceValue): Buffer {
  switch (type) {
    case 'integer':
    case 'time':
      return encodeSigned(mustInteger(value, type));
    case 'unsignedInteger':
      return encodeUnsigned(mustInteger(value, type));
    case 'float': {
      const n = toNumber(value);
      if (n === undefined) throw new EncodeError(`value ${stringOf(value)} is not a float`);
      if (Object.is(Math.fround(n), n) || Number.isNaN(n)) {
        const b = Buffer.alloc(4);
        b.writeFloatBE(n);
        return b;
      }
      const b = Buffer.alloc(8);
      b.writeDoubleBE(n);
      return b;
    }
    case 'boolean': {
      const v = toBoolean(value);
      if (v === undefined) throw new EncodeError(`value ${stringOf(value)} is not a boolean`);
      return Buffer.from([v ? 1 : 0]);
    }
    case 'objlnk': {
      const link = toObjlnk(value);
      if (link === undefined) throw new EncodeError(`value ${stringOf(value)} is not an objlnk`);
      const b = Buffer.alloc(4);
      b.writeUInt16BE(link.objectId, 0);
      b.writeUInt16BE(link.instanceId, 2);
      return b;
    }
    default:
      return toBuffer(value);
  }
}

type ValueResult = { ok: true; value: ResourceValue } | { ok: false; error: string };

function readInteger(b: Buffer, signed: boolean): bigint | undefined {
  switch (b.length) {
    case 1:
      return BigInt(signed ? b.readInt8(0) : b.readUInt8(0));
    case 2:
      return BigInt(signed ? b.readInt16BE(0) : b.readUInt16BE(0));
    case 4:
      return BigInt(signed ? b.readInt32BE(0) : b.readUInt32BE(0));
    case 8:
      return signed ? b.readBigInt64BE(0) : b.readBigUInt64BE(0);
    default:
      return undefined;
  }
}

/** Decodes TLV value bytes by type; an unknown type gives a copy of the bytes. */
export function decodeTlvValue(type: ResourceType | undefined, b: Buffer): ValueResult {
  switch (type) {
    case 'integer':
    case 'unsignedInteger':
    case 'time': {
      const n = readInteger(b, type !== 'unsignedInteger');
      if (n === undefined)
        return { ok: false, error: `integer of ${b.length} bytes (expected 1, 2, 4 or 8)` };
      return { ok: true, value: type === 'time' ? dateFromSeconds(n) : fromBigInt(n) };
    }
    case 'float':
      if (b.length === 4) return { ok: true, value: b.readFloatBE(0) };
      if (b.length === 8) return { ok: true, value: b.readDoubleBE(0) };
      return { ok: false, error: `float of ${b.length} bytes (expected 4 or 8)` };
    case 'boolean':
      if (b.length !== 1 || b[0]! > 1) return { ok: false, error: 'boolean must be one byte 0 or 1' };
      return { ok: true, value: b[0] === 1 };
    case 'objlnk':
      if (b.length !== 4) return { ok: false, error: `objlnk of ${b.length} bytes (expected 4)` };
      return { ok: true, value: objectLink(b.readUInt16BE(0), b.readUInt16BE(2)) };
    case 'string':
    case 'corelnk':
      return { ok: true, value: b.toString('utf8') };
    default:
      return { ok: true, value: Buffer.from(b) };
  }
}

// ---- records <-> TLV ---------------------------------------------------------------------------

interface Located {
  readonly path: Lwm2mPath;
  readonly record: ResourceRecord;
}

function encodeResourceLevel(items: readonly Located[], model: ObjectModel | undefined): Buffer[] {
  const order: number[] = [];
  const groups = new Map<number, Located[]>();
  for (const item of items) {
    const rid = item.path.resourceId!;
    let group = groups.get(rid);
    if (!group) {
      group = [];
      groups.set(rid, group);
      order.push(rid);
    }
    group.push(item);
  }
  return order.map((rid) => {
    const group = groups.get(rid)!;
    const first = group[0]!;
    if (group.length === 1 && first.path.resourceInstanceId === undefined) {
      return writeTlv(TlvKind.RESOURCE, rid, valueBytes(first, model));
    }
    if (group.some((g) => g.path.resourceInstanceId === undefined)) {
      throw new EncodeError(`resource ${formatPath(first.path)} given both as single and multiple`);
    }
    return writeTlv(
      TlvKind.MULTIPLE_RESOURCE,
      rid,
      Buffer.concat(group.map((g) => resourceInstance(g, model))),
    );
  });
}

function resourceInstance(item: Located, model: ObjectModel | undefined): Buffer {
  return writeTlv(TlvKind.RESOURCE_INSTANCE, item.path.resourceInstanceId!, valueBytes(item, model));
}

function valueBytes(item: Located, model: ObjectModel | undefined): Buffer {
  const { path, value } = item.record;
  return encodeTlvValue(encodeType(model, path, value), value);
}

export function locate(
  basePath: string,
  records: readonly ResourceRecord[],
): { base: Lwm2mPath; items: Located[] } {
  const base = parsePath(basePath);
  const baseDepth = pathDepth(base);
  const items = records.map((record) => {
    const path = parsePath(record.path);
    const depth = pathDepth(path);
    if (depth < 3) throw new EncodeError(`record path ${record.path} is not a resource`);
    const segs = [path.objectId, path.instanceId, path.resourceId, path.resourceInstanceId];
    const baseSegs = [base.objectId, base.instanceId, base.resourceId, base.resourceInstanceId];
    for (let k = 0; k < baseDepth; k++) {
      if (segs[k] !== baseSegs[k]) throw new EncodeError(`record ${record.path} is not under ${basePath}`);
    }
    return { path, record };
  });
  return { base, items };
}

export function encodeTlv(basePath: string, records: readonly ResourceRecord[], model?: ObjectModel): Buffer {
  const { base, items } = locate(basePath, records);
  switch (pathDepth(base)) {
    case 1: {
      const order: number[] = [];
      const groups = new Map<number, Located[]>();
      for (const item of items) {
        const iid = item.path.instanceId!;
        if (!groups.has(iid)) {
          groups.set(iid, []);
          order.push(iid);
        }
        groups.get(iid)!.push(item);
      }
      return Buffer.concat(
        order.map((iid) =>
          writeTlv(TlvKind.OBJECT_INSTANCE, iid, Buffer.concat(encodeResourceLevel(groups.get(iid)!, model))),
        ),
      );
    }
    case 2:
      return Buffer.concat(encodeResourceLevel(items, model));
    case 3:
      if (items.length === 1 && items[0]!.path.resourceInstanceId === undefined) {
        return Buffer.concat(encodeResourceLevel(items, model));
      }
      if (items.some((i) => i.path.resourceInstanceId === undefined)) {
        throw new EncodeError(`resource ${basePath} given both as single and multiple`);
      }
      return writeTlv(
        TlvKind.MULTIPLE_RESOURCE,
        base.resourceId!,
        Buffer.concat(items.map((i) => resourceInstance(i, model))),
      );
    case 4:
      if (items.length !== 1) throw new EncodeError(`a resource instance path carries exactly one value`);
      return resourceInstance(items[0]!, model);
    default:
      throw new EncodeError('TLV cannot encode the root path');
  }
}

export function decodeTlv(basePath: string, payload: Buffer, model?: ObjectModel): DecodeResult {
  let base: Lwm2mPath;
  try {
    base = parsePath(basePath);
  } catch (err) {
    if (err instanceof PathError) return { ok: false, error: err.message };
    throw err;
  }
  if (pathDepth(base) === 0) return { ok: false, error: 'TLV cannot be decoded at the root path' };
  const parsed = readTlvs(payload);
  if (!parsed.ok) return parsed;
  const records: ResourceRecord[] = [];
  // The level of each kind fixes which path segment its identifier fills; missing ancestors come from
  // the base path (or instance 0, for clients that omit the object-instance wrapper of a single instance).
  const baseSegs = [base.objectId, base.instanceId ?? 0, base.resourceId ?? 0];
  const emit = (segs: number[], raw: Buffer): string | undefined => {
    const path = formatPath({
      objectId: segs[0]!,
      instanceId: segs[1]!,
      resourceId: segs[2]!,
      ...(segs[3] === undefined ? {} : { resourceInstanceId: segs[3] }),
    });
    const decoded = decodeTlvValue(modelType(model, path), raw);
    if (!decoded.ok) return `${path}: ${decoded.error}`;
    records.push({ path, value: decoded.value });
    return undefined;
  };
  const walk = (entry: TlvEntry, prefix: number[]): string | undefined => {
    switch (entry.kind) {
      case TlvKind.OBJECT_INSTANCE: {
        for (const child of entry.children ?? []) {
          const error = walk(child, [prefix[0]!, entry.id]);
          if (error) return error;
        }
        return undefined;
      }
      case TlvKind.MULTIPLE_RESOURCE: {
        for (const child of entry.children ?? []) {
          const error = emit([prefix[0]!, prefix[1]!, entry.id, child.id], child.value);
          if (error) return error;
        }
        return undefined;
      }
      case TlvKind.RESOURCE:
        return emit([prefix[0]!, prefix[1]!, entry.id], entry.value);
      default:
        return emit([prefix[0]!, prefix[1]!, prefix[2]!, entry.id], entry.value);
    }
  };
  for (const entry of parsed.entries) {
    const error = walk(entry, baseSegs);
    if (error) return { ok: false, error };
  }
  return { ok: true, records };
}
