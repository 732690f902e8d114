import { createHmac, timingSafeEqual } from 'node:crypto';

/** Bytes of the HMAC-SHA256 kept in a link: 128 bits is plenty for an expiring, device-bound link. */
const MAC_BYTES = 16;
const MAC_CHARS = Math.ceil((MAC_BYTES * 4) / 3);

export interface DownloadGrant {
  /** LwM2M endpoint name of the device the link is for. */
  readonly endpoint: string;
  readonly fileName: string;
  /** Unix time in seconds after which the link is refused. */
  readonly expiresAt: number;
}

/** Keys that rotate: the newest signs, older ones still verify the links they signed (signing-keys.ts). */
export interface KeyRing {
  signingKey(nowMs: number): Uint8Array;
  verificationKeys(nowMs: number): readonly Uint8Array[];
}

/** One fixed key, or a ring of rotating keys. */
export type UrlKeys = Uint8Array | KeyRing;

function signingKeyOf(keys: UrlKeys, nowMs: number): Uint8Array {
  return keys instanceof Uint8Array ? keys : keys.signingKey(nowMs);
}

function verificationKeysOf(keys: UrlKeys, nowMs: number): readonly Uint8Array[] {
  return keys instanceof Uint8Array ? [keys] : keys.verificationKeys(nowMs);
}

export type VerifyResult =
  | { readonly ok: true; readonly endpoint: string; readonly expiresAt: number }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'expired' | 'bad-signature' };

function mac(key: Uint8Array, grant: DownloadGrant): string {
  return createHmac('sha256', key)
    .update(`otactl-fw-v1\n${grant.endpoint}\n${grant.fileName}\n${grant.expiresAt}`)
    .digest()
    .subarray(0, MAC_BYTES)
    .toString('base64url');
}

/** The query string (without `?`) that authorises exactly this device to fetch this file until expiry. */
export function signDownload(key: Uint8Array, grant: DownloadGrant): string {
  const token = `${grant.expiresAt.toString(36)}.${mac(key, grant)}`;
  return `t=${token}&d=${encodeURIComponent(grant.endpoint)}`;
}

/** Checks a link's query for `fileName`; `nowMs` is injectable for tests. */
export function verifyDownload(
  keys: UrlKeys,
  fileName: string,
  query: URLSearchParams,
  nowMs: number,
): VerifyResult {
  const token = query.get('t');
  const endpoint = query.get('d');
  if (token === null || endpoint === null) return { ok: false, reason: 'missing' };
  const match = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]+)$/.exec(token);
  if (match === null || match[2]?.length !== MAC_CHARS) return { ok: false, reason: 'malformed' };
  const expiresAt = Number.parseInt(match[1] ?? '', 36);
  if (!Number.isSafeInteger(expiresAt)) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(match[2]);
  const signedBy = (key: Uint8Array) =>
    timingSafeEqual(Buffer.from(mac(key, { endpoint, fileName, expiresAt })), given);
  if (!verificationKeysOf(keys, nowMs).some(signedBy)) return { ok: false, reason: 'bad-signature' };
  if (nowMs >= expiresAt * 1000) return { ok: false, reason: 'expired' };
  return { ok: true, endpoint, expiresAt };
}

export interface UrlSignerOptions {
  readonly key: UrlKeys;
  /** How long a link stays valid. */
  readonly ttlSeconds: number;
  readonly now?: () => number;
}

/** Returns, per device, the `signer` that `choosePackageUri` appends to a link. */
export function createUrlSigner(
  options: UrlSignerOptions,
): (endpoint: string) => (fileName: string) => string {
  const now = options.now ?? Date.now;
  return (endpoint) => (fileName) => {
    const at = now();
    return signDownload(signingKeyOf(options.key, at), {
      endpoint,
      fileName,
      expiresAt: Math.ceil(at / 1000) + options.ttlSeconds,
    });
  };
}
