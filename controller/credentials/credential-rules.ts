/**
 * What a stored credential may hold. The same bounds are CHECK constraints of `device_credentials`
 * (migration 0011); test/credentials/credential-rules.test.ts holds the two to one table of cases.
 */

/** An endpoint name as registration accepts it (`ep`): 1 to 255 bytes of UTF-8. */
export const MAX_ENDPOINT_BYTES = 255;
/**
 * A PSK identity: 1 to 256 bytes of UTF-8 text (LwM2M's 0/x/3 as text). RFC 4279 5.3 asks for
 * at least 128; the DTLS server reads up to 256.
 */
export const MAX_PSK_IDENTITY_BYTES = 256;
/**
 * A key: 16 to 64 bytes. RFC 4279 5.3 asks for up to 64; a key shorter than 128 bits can be found
 * by trying every key against one recorded handshake. LwM2M devices use 16 or 32.
 */
export const MIN_PSK_KEY_BYTES = 16;
export const MAX_PSK_KEY_BYTES = 64;

export type RuleCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const OK: RuleCheck = { ok: true };
// A lone surrogate cannot be encoded as UTF-8: Buffer.from would store U+FFFD instead.
const LONE_SURROGATE = /\p{Cs}/u;

function checkText(value: string, maxBytes: number): RuleCheck {
  if (value === '') return { ok: false, reason: 'is empty' };
  if (value.includes('\0')) return { ok: false, reason: 'contains a NUL character' };
  if (LONE_SURROGATE.test(value)) return { ok: false, reason: 'is not valid UTF-8' };
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxBytes) return { ok: false, reason: `is ${bytes} bytes long, at most ${maxBytes} allowed` };
  return OK;
}

export function checkEndpoint(endpoint: string): RuleCheck {
  return checkText(endpoint, MAX_ENDPOINT_BYTES);
}

export function checkPskIdentity(identity: string): RuleCheck {
  return checkText(identity, MAX_PSK_IDENTITY_BYTES);
}

export function checkPskKeyLength(length: number): RuleCheck {
  if (length < MIN_PSK_KEY_BYTES || length > MAX_PSK_KEY_BYTES) {
    return {
      ok: false,
      reason: `is ${length} bytes long, ${MIN_PSK_KEY_BYTES} to ${MAX_PSK_KEY_BYTES} allowed`,
    };
  }
  return OK;
}

/** A key written as hex (upper or lower case, an even number of digits), checked for its length. */
export function parsePskKeyHex(
  text: string,
): { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly reason: string } {
  // The reason never quotes the text: it is a secret, even when malformed.
  if (text === '') return { ok: false, reason: 'is empty' };
  if (!/^[0-9a-fA-F]*$/.test(text)) return { ok: false, reason: 'is not hexadecimal (0-9, a-f)' };
  if (text.length % 2 !== 0) return { ok: false, reason: 'has an odd number of hex digits' };
  const bytes = Buffer.from(text, 'hex');
  const length = checkPskKeyLength(bytes.length);
  return length.ok ? { ok: true, bytes } : length;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The identity a DTLS client sent, as the text a credential is stored under, or undefined when no
 * credential could have it (bad UTF-8, NUL, too long): such an identity is unknown.
 */
export function pskIdentityFromBytes(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
  return checkPskIdentity(text).ok ? text : undefined;
}
