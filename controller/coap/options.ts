import { decodeUint } from './uint.js';

/** CoAP option numbers (RFC 7252 5.10, 7641, 7959). */
export const CoapOption = {
  IF_MATCH: 1,
  URI_HOST: 3,
  ETAG: 4,
  IF_NONE_MATCH: 5,
  OBSERVE: 6,
  URI_PORT: 7,
  LOCATION_PATH: 8,
  URI_PATH: 11,
  CONTENT_FORMAT: 12,
  MAX_AGE: 14,
  URI_QUERY: 15,
  ACCEPT: 17,
  LOCATION_QUERY: 20,
  BLOCK2: 23,
  BLOCK1: 27,
  SIZE2: 28,
  PROXY_URI: 35,
  PROXY_SCHEME: 39,
  SIZE1: 60,
} as const;

/** An option as coap-packet parses it: named when it knows the option, else its number as a string. */
export interface ParsedOption {
  readonly name: string | number;
  readonly value: Buffer;
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
export function optionNumber(option: { readonly name: string | number }): number | undefined {
  if (typeof option.name === 'number') return option.name;
  const named = numberOfName[option.name];
  if (named !== undefined) return named;
  const n = Number(option.name);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

export function optionValues(options: readonly ParsedOption[], num: number): Buffer[] {
  return options.filter((o) => optionNumber(o) === num).map((o) => o.value);
}

export function optionValue(options: readonly ParsedOption[], num: number): Buffer | undefined {
  return options.find((o) => optionNumber(o) === num)?.value;
}

export function uintOption(options: readonly ParsedOption[], num: number): number | undefined {
  const v = optionValue(options, num);
  return v === undefined ? undefined : decodeUint(v);
}

/** The critical options (odd numbers) a server here honours or may safely ignore as an origin server. */
const SUPPORTED_CRITICAL = new Set<number>([
  CoapOption.URI_HOST,
  CoapOption.URI_PORT,
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
export function hasUnknownCriticalOption(options: readonly ParsedOption[]): boolean {
  return options.some((o) => {
    const n = optionNumber(o);
    return n === undefined || (n % 2 === 1 && !SUPPORTED_CRITICAL.has(n));
  });
}

/** The values of a repeatable string option (Uri-Path, Uri-Query, Location-Path) as UTF-8 text. */
export function stringOptions(options: readonly ParsedOption[], num: number): string[] {
  return optionValues(options, num).map((v) => v.toString('utf8'));
}
