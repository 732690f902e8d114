import type { ObjectModel, ResourceType } from '../model/types.js';
import { isObjectLink, type ObjectLink, objectLink, type ResourceValue } from './types.js';

/** The LwM2M type a JavaScript value naturally has, for resources the model does not know. */
export function inferType(value: ResourceValue): ResourceType {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'float';
  if (typeof value === 'bigint') return 'integer';
  if (typeof value === 'boolean') return 'boolean';
  if (Buffer.isBuffer(value)) return 'opaque';
  if (value instanceof Date) return 'time';
  return 'objlnk';
}

/** The model's type for a path, or undefined (also for executable resources, which carry no value type). */
export function modelType(model: ObjectModel | undefined, path: string): ResourceType | undefined {
  const t = model?.resourceType(path);
  return t === 'none' ? undefined : t;
}

/** The type to encode a value as: the model's when known, else the value's own. */
export function encodeType(model: ObjectModel | undefined, path: string, value: ResourceValue): ResourceType {
  return modelType(model, path) ?? inferType(value);
}

const MIN_I64 = -(2n ** 63n);
const MAX_U64 = 2n ** 64n - 1n;

/** A whole number as bigint, or undefined when the value is not an integer. */
export function toBigInt(value: ResourceValue): bigint | undefined {
  if (typeof value === 'bigint') return value >= MIN_I64 && value <= MAX_U64 ? value : undefined;
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : undefined;
  if (typeof value === 'boolean') return value ? 1n : 0n;
  if (value instanceof Date) return BigInt(Math.floor(value.getTime() / 1000));
  if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) return BigInt(value.trim());
  return undefined;
}

/** A bigint as a number when it is exactly representable, else kept as bigint. */
export function fromBigInt(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

export function toNumber(value: ResourceValue): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return Math.floor(value.getTime() / 1000);
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isNaN(n) && value.trim() !== 'NaN' ? undefined : n;
  }
  return undefined;
}

export function toBoolean(value: ResourceValue): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (value === 0 || value === 0n) return false;
    if (value === 1 || value === 1n) return true;
    return undefined;
  }
  if (typeof value === 'string') {
    if (value === '1' || value === 'true') return true;
    if (value === '0' || value === 'false') return false;
  }
  return undefined;
}

export function dateFromSeconds(seconds: number | bigint): Date {
  return new Date(Number(seconds) * 1000);
}

export function secondsOf(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

export function parseObjlnk(text: string): ObjectLink | undefined {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const o = Number(m[1]);
  const i = Number(m[2]);
  return o > 65535 || i > 65535 ? undefined : objectLink(o, i);
}

export function formatObjlnk(link: ObjectLink): string {
  return `${link.objectId}:${link.instanceId}`;
}

export function toObjlnk(value: ResourceValue): ObjectLink | undefined {
  if (isObjectLink(value)) return value;
  if (typeof value === 'string') return parseObjlnk(value);
  return undefined;
}

export function toBuffer(value: ResourceValue): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.from(stringOf(value), 'utf8');
}

/** Any value as text: numbers in decimal, booleans as 1/0, time as seconds, objlnk as `o:i`, bytes base64. */
export function stringOf(value: ResourceValue): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (value instanceof Date) return String(secondsOf(value));
  return formatObjlnk(value);
}

/**
 * Converts a decoded value to what the model type says, when the conversion is unambiguous
 * (e.g. a SenML `v` number for a Time resource becomes a Date). Otherwise returns the value unchanged.
 */
export function conform(type: ResourceType | undefined, value: ResourceValue): ResourceValue {
  switch (type) {
    case 'time': {
      if (typeof value === 'number' || typeof value === 'bigint') return dateFromSeconds(value);
      return value;
    }
    case 'integer':
    case 'unsignedInteger': {
      if (typeof value === 'bigint') return fromBigInt(value);
      return value;
    }
    case 'boolean':
      return typeof value === 'number' ? (toBoolean(value) ?? value) : value;
    case 'objlnk':
      return typeof value === 'string' ? (parseObjlnk(value) ?? value) : value;
    case 'opaque':
      return typeof value === 'string' ? Buffer.from(value, 'base64') : value;
    default:
      return value;
  }
}
