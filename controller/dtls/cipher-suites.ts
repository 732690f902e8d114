import { ownCopy } from './own-buffer.js';
import { keyBlock } from './prf.js';
import {
  CbcSha256Protection,
  Ccm8Protection,
  type RecordProtection,
  type TrafficKeys,
} from './record-protection.js';

/** How a suite agrees on the premaster secret; ECDHE-ECDSA and raw public keys would add kinds here. */
export type KeyExchange = 'psk';

export interface CipherSuite {
  readonly id: number;
  readonly name: string;
  readonly keyExchange: KeyExchange;
  readonly macKeyLength: number;
  readonly encKeyLength: number;
  readonly fixedIvLength: number;
  readonly protection: (keys: TrafficKeys) => RecordProtection;
}

export const TLS_PSK_WITH_AES_128_CCM_8: CipherSuite = {
  id: 0xc0a8,
  name: 'TLS_PSK_WITH_AES_128_CCM_8',
  keyExchange: 'psk',
  macKeyLength: 0,
  encKeyLength: 16,
  fixedIvLength: 4,
  protection: (keys) => new Ccm8Protection(keys),
};

export const TLS_PSK_WITH_AES_128_CBC_SHA256: CipherSuite = {
  id: 0x00ae,
  name: 'TLS_PSK_WITH_AES_128_CBC_SHA256',
  keyExchange: 'psk',
  macKeyLength: 32,
  encKeyLength: 16,
  fixedIvLength: 0,
  protection: (keys) => new CbcSha256Protection(keys),
};

/** The suites this server speaks, in its order of preference (LwM2M's mandatory one first). */
export const CIPHER_SUITES: readonly CipherSuite[] = [
  TLS_PSK_WITH_AES_128_CCM_8,
  TLS_PSK_WITH_AES_128_CBC_SHA256,
];

export function suiteById(id: number): CipherSuite | undefined {
  return CIPHER_SUITES.find((suite) => suite.id === id);
}

/** The server's most preferred suite among those offered. */
export function chooseSuite(
  offered: readonly number[],
  enabled: readonly CipherSuite[] = CIPHER_SUITES,
): CipherSuite | undefined {
  return enabled.find((suite) => offered.includes(suite.id));
}

export interface ConnectionKeys {
  readonly client: TrafficKeys;
  readonly server: TrafficKeys;
}

/** Splits the key block (RFC 5246 6.3): MAC keys, then encryption keys, then IVs; client first. */
export function deriveKeys(
  suite: CipherSuite,
  master: Buffer,
  serverRandom: Buffer,
  clientRandom: Buffer,
): ConnectionKeys {
  const { macKeyLength: m, encKeyLength: k, fixedIvLength: iv } = suite;
  const pooled = keyBlock(master, serverRandom, clientRandom, 2 * (m + k + iv));
  // Kept for the session's lifetime: one allocation of its own, the keys are views into it.
  const block = ownCopy(pooled);
  pooled.fill(0);
  let offset = 0;
  const take = (n: number): Buffer => {
    const part = block.subarray(offset, offset + n);
    offset += n;
    return part;
  };
  const clientMac = take(m);
  const serverMac = take(m);
  const clientKey = take(k);
  const serverKey = take(k);
  const clientIv = take(iv);
  const serverIv = take(iv);
  return {
    client: { macKey: clientMac, encKey: clientKey, fixedIv: clientIv },
    server: { macKey: serverMac, encKey: serverKey, fixedIv: serverIv },
  };
}
