import type { ParsedPacket } from 'coap-packet';

/** CoAP option numbers used here (RFC 7252, 7641, 7959). */
export const CoapOption = {
  OBSERVE: 6,
  URI_PATH: 11,
  CONTENT_FORMAT: 12,
  URI_QUERY: 15,
  ACCEPT: 17,
  LOCATION_PATH: 8,
  BLOCK2: 23,
  BLOCK1: 27,
  SIZE1: 60,
} as const;

/** coap-packet names the options it knows; these are the names of the ones above. */
const optionNames: Readonly<Record<number, string>> = {
  6: 'Observe',
  8: 'Location-Path',
  11: 'Uri-Path',
  12: 'Content-Format',
  15: 'Uri-Query',
  17: 'Accept',
  23: 'Block2',
  27: 'Block1',
  60: 'Size1',
};

type PacketOption = ParsedPacket['options'][number];

export function encodeUint(n: number): Buffer {
  if (n === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  let v = n;
  while (v > 0) {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  return Buffer.from(bytes);
}

export function decodeUint(buf: Buffer): number {
  let n = 0;
  for (const b of buf) n = n * 256 + b;
  return n;
}

function matches(option: PacketOption, num: number): boolean {
  return option.name === num || option.name === optionNames[num];
}

export function optionValues(options: readonly PacketOption[], num: number): Buffer[] {
  return options.filter((o) => matches(o, num)).map((o) => o.value);
}

export function optionValue(options: readonly PacketOption[], num: number): Buffer | undefined {
  return options.find((o) => matches(o, num))?.value;
}

export function uintOption(options: readonly PacketOption[], num: number): number | undefined {
  const v = optionValue(options, num);
  return v === undefined ? undefined : decodeUint(v);
}

export interface BlockOption {
  readonly num: number;
  readonly more: boolean;
  /** Block size exponent: size = 2 ** (szx + 4). */
  readonly szx: number;
}

export function parseBlock(buf: Buffer): BlockOption | undefined {
  if (buf.length > 3) return undefined;
  const v = decodeUint(buf);
  const szx = v & 7;
  if (szx === 7) return undefined;
  return { num: Math.floor(v / 16), more: (v & 8) !== 0, szx };
}

export function encodeBlock(b: BlockOption): Buffer {
  return encodeUint(b.num * 16 + (b.more ? 8 : 0) + b.szx);
}

export function blockSize(szx: number): number {
  return 2 ** (szx + 4);
}

/** Option numbers of the names coap-packet gives the options it knows (RFC 7252 5.10 and later). */
const numberOfName: Readonly<Record<string, number>> = {
  'If-Match': 1,
  'Uri-Host': 3,
  ETag: 4,
  'If-None-Match': 5,
  Observe: 6,
  'Uri-Port': 7,
  'Location-Path': 8,
  OSCORE: 9,
  'Uri-Path': 11,
  'Content-Format': 12,
  'Max-Age': 14,
  'Uri-Query': 15,
  'Hop-Limit': 16,
  Accept: 17,
  'Q-Block1': 19,
  'Location-Query': 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  'Q-Block2': 31,
  'Proxy-Uri': 35,
  'Proxy-Scheme': 39,
  Size1: 60,
  'No-Response': 258,
  'OCF-Accept-Content-Format-Version': 2049,
  'OCF-Content-Format-Version': 2053,
};

/**
 * The number of a parsed option. coap-packet names the options it knows and gives every other one
 * its number as a decimal string ('2051'), so a check on `typeof name === 'number'` never sees them.
 */
export function optionNumber(option: PacketOption): number | undefined {
  if (typeof option.name === 'number') return option.name;
  const named = numberOfName[option.name];
  if (named !== undefined) return named;
  const n = Number(option.name);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** The critical options (odd numbers) this server honours or may safely ignore as an origin server. */
const SUPPORTED_CRITICAL = new Set([
  3, // Uri-Host
  7, // Uri-Port
  CoapOption.URI_PATH,
  CoapOption.URI_QUERY,
  CoapOption.ACCEPT,
  CoapOption.BLOCK2,
  CoapOption.BLOCK1,
]);

/**
 * True when a request carries a critical option this server does not implement: RFC 7252 5.4.1
 * requires 4.02 Bad Option for it. Unknown elective (even) options are ignored.
 */
export function hasUnknownCriticalOption(options: readonly PacketOption[]): boolean {
  return options.some((o) => {
    const n = optionNumber(o);
    return n === undefined || (n % 2 === 1 && !SUPPORTED_CRITICAL.has(n));
  });
}
