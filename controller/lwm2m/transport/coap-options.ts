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

/** Critical options (odd numbers) coap-packet names but this server does not implement. */
const UNSUPPORTED_CRITICAL = new Set([
  'If-Match',
  'If-None-Match',
  'OSCORE',
  'Q-Block1',
  'Q-Block2',
  'Proxy-Uri',
  'Proxy-Scheme',
  'OCF-Accept-Content-Format-Version',
  'OCF-Content-Format-Version',
]);

/** True when a request carries a critical option this server cannot honour (answer 4.02 Bad Option). */
export function hasUnknownCriticalOption(options: readonly PacketOption[]): boolean {
  return options.some((o) =>
    typeof o.name === 'number' ? o.name % 2 === 1 : UNSUPPORTED_CRITICAL.has(o.name),
  );
}
