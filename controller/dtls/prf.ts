import { createHmac } from 'node:crypto';

/** P_SHA256 of RFC 5246 5: the data expansion function of the TLS 1.2 PRF. */
export function pSha256(secret: Buffer, seed: Buffer, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let a = seed;
  let filled = 0;
  while (filled < length) {
    a = createHmac('sha256', secret).update(a).digest();
    const block = createHmac('sha256', secret).update(a).update(seed).digest();
    filled += block.copy(out, filled, 0, Math.min(block.length, length - filled));
  }
  return out;
}

/** PRF(secret, label, seed) of TLS 1.2 with SHA-256 (every suite here uses it). */
export function prf(secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  return pSha256(secret, Buffer.concat([Buffer.from(label, 'latin1'), seed]), length);
}

/** The premaster secret of plain PSK (RFC 4279 2): N zero bytes, then the key, each with its length. */
export function pskPremasterSecret(psk: Buffer): Buffer {
  const out = Buffer.alloc(4 + 2 * psk.length);
  out.writeUInt16BE(psk.length, 0);
  out.writeUInt16BE(psk.length, 2 + psk.length);
  psk.copy(out, 4 + psk.length);
  return out;
}

export const MASTER_SECRET_LENGTH = 48;

/** RFC 5246 8.1. */
export function masterSecret(premaster: Buffer, clientRandom: Buffer, serverRandom: Buffer): Buffer {
  return prf(premaster, 'master secret', Buffer.concat([clientRandom, serverRandom]), MASTER_SECRET_LENGTH);
}

/** RFC 7627 4: bound to the hash of the handshake up to and including ClientKeyExchange. */
export function extendedMasterSecret(premaster: Buffer, sessionHash: Buffer): Buffer {
  return prf(premaster, 'extended master secret', sessionHash, MASTER_SECRET_LENGTH);
}

/** RFC 5246 6.3: the key block, server random first. */
export function keyBlock(master: Buffer, serverRandom: Buffer, clientRandom: Buffer, length: number): Buffer {
  return prf(master, 'key expansion', Buffer.concat([serverRandom, clientRandom]), length);
}

export type FinishedLabel = 'client finished' | 'server finished';

/** RFC 5246 7.4.9: 12 bytes over the hash of the handshake messages so far. */
export function finishedVerifyData(master: Buffer, label: FinishedLabel, transcriptHash: Buffer): Buffer {
  return prf(master, label, transcriptHash, 12);
}
