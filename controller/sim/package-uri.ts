/** Schemes by their Firmware Update Protocol Support (5/0/8) value. */
const SCHEME_PROTOCOL: Readonly<Record<string, number>> = {
  'coap:': 0,
  'coaps:': 1,
  'http:': 2,
  'https:': 3,
  'coap+tcp:': 4,
  'coaps+tcp:': 5,
};

/** Protocols the simulator can download with, whatever 5/0/8 claims (CoAPS with the device's own key). */
const IMPLEMENTED = new Set([0, 1, 2, 3]);

const MAX_URI_BYTES = 255;

export type PackageUriCheck =
  | { readonly kind: 'ok'; readonly url: URL }
  /** Result 7. */
  | { readonly kind: 'invalid' }
  /** Result 9. */
  | { readonly kind: 'unsupported-protocol' };

/**
 * Decides what a device does with a Package URI: malformed, too long, or relative without a base
 * is invalid (7); a scheme the device does not list in 5/0/8 (or cannot speak) is unsupported (9).
 */
export function checkPackageUri(uri: string, protocols: readonly number[], base?: string): PackageUriCheck {
  if (Buffer.byteLength(uri, 'utf8') > MAX_URI_BYTES) return { kind: 'invalid' };
  let url: URL;
  try {
    url = uri.startsWith('/') && base !== undefined ? new URL(uri, base) : new URL(uri);
  } catch {
    return { kind: 'invalid' };
  }
  const protocol = SCHEME_PROTOCOL[url.protocol];
  if (protocol === undefined || !protocols.includes(protocol) || !IMPLEMENTED.has(protocol)) {
    return { kind: 'unsupported-protocol' };
  }
  if (url.hostname === '') return { kind: 'invalid' };
  return { kind: 'ok', url };
}
