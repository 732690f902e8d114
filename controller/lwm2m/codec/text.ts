import type { ResourceType } from '../model/types.js';
import type { ResourceValue } from './types.js';
import {
  dateFromSeconds,
  fromBigInt,
  parseObjlnk,
  stringOf,
  toBigInt,
  toBoolean,
  toNumber,
} from './value.js';

export type TextValueResult =
  | { readonly ok: true; readonly value: ResourceValue }
  | { readonly ok: false; readonly error: string };

/** text/plain (content format 0): one value as UTF-8 text. Opaque values are base64 (LwM2M 1.0). */
export function encodeText(type: ResourceType, value: ResourceValue): Buffer {
  switch (type) {
    case 'integer':
    case 'unsignedInteger': {
      const n = toBigInt(value);
      return Buffer.from(n === undefined ? stringOf(value) : n.toString(), 'utf8');
    }
    case 'float': {
      const n = toNumber(value);
      return Buffer.from(n === undefined ? stringOf(value) : String(n), 'utf8');
    }
    case 'boolean': {
      const b = toBoolean(value);
      return Buffer.from(b === undefined ? stringOf(value) : b ? '1' : '0', 'utf8');
    }
    case 'time': {
      const n = toBigInt(value);
      return Buffer.from(n === undefined ? stringOf(value) : n.toString(), 'utf8');
    }
    default:
      return Buffer.from(stringOf(value), 'utf8');
  }
}

const INTEGER = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Decodes text by type; an unknown type gives the text itself. */
export function decodeText(type: ResourceType | undefined, payload: Buffer): TextValueResult {
  const text = payload.toString('utf8');
  const t = text.trim();
  switch (type) {
    case 'integer':
    case 'unsignedInteger':
    case 'time': {
      if (!INTEGER.test(t)) return { ok: false, error: `'${text}' is not an integer` };
      const n = BigInt(t);
      if (type === 'unsignedInteger' && n < 0n) return { ok: false, error: `'${text}' is negative` };
      return { ok: true, value: type === 'time' ? dateFromSeconds(n) : fromBigInt(n) };
    }
    case 'float': {
      if (!FLOAT.test(t)) return { ok: false, error: `'${text}' is not a number` };
      return { ok: true, value: Number(t) };
    }
    case 'boolean': {
      const b = toBoolean(t);
      return b === undefined ? { ok: false, error: `'${text}' is not a boolean` } : { ok: true, value: b };
    }
    case 'objlnk': {
      const link = parseObjlnk(t);
      return link === undefined
        ? { ok: false, error: `'${text}' is not an objlnk` }
        : { ok: true, value: link };
    }
    case 'opaque': {
      if (!/^[A-Za-z0-9+/\-_]*={0,2}$/.test(t)) return { ok: false, error: 'opaque text is not base64' };
      return { ok: true, value: Buffer.from(t, 'base64') };
    }
    default:
      return { ok: true, value: text };
  }
}
