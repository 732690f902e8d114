import type { ResourceValue } from '../lwm2m/codec/index.js';

/**
 * The checks every value a device reports passes before it becomes a column: integer codes within
 * the range object 5 (v1.2) defines, text that the database stores exactly as it is held in memory.
 */

/** Ranges of the object 5 codes kept in `devices` (the same ranges are CHECKs in migration 0006). */
export const CODE_RANGES = {
  /** 5/0/3 State: 0 Idle .. 3 Updating. */
  state: { min: 0, max: 3 },
  /** 5/0/5 Update Result: 0 Initial .. 11 Deferred. */
  result: { min: 0, max: 11 },
  /** 5/0/8 Protocol Support instances: 0 CoAP .. 5 CoAP over TLS. */
  protocol: { min: 0, max: 5 },
  /** 5/0/9 Delivery Method: 0 pull, 1 push, 2 both. */
  deliveryMethod: { min: 0, max: 2 },
  /** 3/0/11 Error Code instances: 0 no error .. 8, 9-15 reserved, 16-32 the device's own (migration 0016). */
  errorCode: { min: 0, max: 32 },
} as const;

export type CodeRange = (typeof CODE_RANGES)[keyof typeof CODE_RANGES];

export type ReportedCode =
  | { readonly kind: 'known'; readonly code: number }
  /** Outside the range, or not an integer: `raw` is the value as the device sent it, storable text. */
  | { readonly kind: 'unknown'; readonly raw: string };

/** Raw text of an unknown code is kept for people; this much of it is enough. */
export const MAX_RAW_CODE_LENGTH = 64;
/** Longest object 3 text (manufacturer, model, serial, firmware version, ...) stored. */
export const MAX_REPORTED_TEXT_LENGTH = 255;

/** The value as an integer when it is one exactly; undefined otherwise (1.5, 2^60, "abc"). */
export function integerOf(value: ResourceValue): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    if (!/^\s*[+-]?\d{1,16}\s*$/.test(value)) return undefined;
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  if (Buffer.isBuffer(value)) {
    const text = strictText(value);
    return text === undefined ? undefined : integerOf(text);
  }
  return undefined;
}

/** A reported code checked against its range; undefined when the device reported nothing. */
export function reportedCode(value: ResourceValue | undefined, range: CodeRange): ReportedCode | undefined {
  if (value === undefined) return undefined;
  const n = integerOf(value);
  if (n !== undefined && n >= range.min && n <= range.max) return { kind: 'known', code: n };
  return { kind: 'unknown', raw: rawText(value) };
}

export type ReportedText =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: string };

/**
 * Text a device reports (3/0/3 and the rest of object 3): refused when the database could not hold
 * it as it is (NUL), when it is not valid Unicode text (invalid UTF-8, which the codecs decode as
 * U+FFFD, or a lone surrogate from a JSON escape), or when it is longer than any real name.
 */
export function reportedText(value: ResourceValue | undefined): ReportedText | undefined {
  if (value === undefined) return undefined;
  const text = Buffer.isBuffer(value) ? strictText(value) : textOf(value);
  if (text === undefined) return { ok: false, reason: 'is not valid UTF-8' };
  if (text.includes('\0')) return { ok: false, reason: 'contains NUL' };
  if (LONE_SURROGATE.test(text) || text.includes('\uFFFD'))
    return { ok: false, reason: 'is not valid UTF-8' };
  if (text.length > MAX_REPORTED_TEXT_LENGTH) {
    return { ok: false, reason: `is longer than ${MAX_REPORTED_TEXT_LENGTH} characters` };
  }
  return { ok: true, text };
}

// With the u flag a surrogate pair is one code point, so only an unpaired half matches.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function strictText(bytes: Buffer): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function textOf(value: Exclude<ResourceValue, Buffer>): string {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (typeof value === 'object') return `${value.objectId}:${value.instanceId}`;
  return String(value);
}

/** Storable text of any value: control characters and lone surrogates escaped, length bounded. */
function rawText(value: ResourceValue): string {
  const text = Buffer.isBuffer(value) ? (strictText(value) ?? `0x${value.toString('hex')}`) : textOf(value);
  // JSON escapes NUL, other control characters and lone surrogates; the quotes go.
  const escaped = JSON.stringify(text).slice(1, -1);
  const chars = Array.from(escaped);
  return chars.length > MAX_RAW_CODE_LENGTH
    ? `${chars.slice(0, MAX_RAW_CODE_LENGTH - 1).join('')}…`
    : escaped;
}
