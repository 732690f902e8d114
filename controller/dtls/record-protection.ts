import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The header fields a record's protection binds (its MAC or AEAD additional data). */
export interface RecordHeaderFields {
  readonly type: number;
  readonly version: number;
  readonly epoch: number;
  /** 48-bit record sequence number. */
  readonly seq: number;
}

/** The keys of one direction of a connection (RFC 5246 6.3). */
export interface TrafficKeys {
  readonly macKey: Buffer;
  readonly encKey: Buffer;
  /** The implicit (salt) part of the nonce; empty for CBC. */
  readonly fixedIv: Buffer;
}

/** Protects and opens the records of one direction of one epoch. */
export interface RecordProtection {
  /** Bytes a record's fragment grows by at most. */
  readonly overhead: number;
  seal(header: RecordHeaderFields, plaintext: Buffer): Buffer;
  /** The plaintext, or undefined when the record fails authentication (never throws). */
  open(header: RecordHeaderFields, fragment: Buffer): Buffer | undefined;
}

/** seq_num of RFC 6347 4.1.2.1: the epoch and the 48-bit sequence number, 8 bytes. */
function writeSeqNum(out: Buffer, offset: number, header: RecordHeaderFields): void {
  out.writeUInt16BE(header.epoch, offset);
  out.writeUIntBE(header.seq, offset + 2, 6);
}

/**
 * The additional data of RFC 5246 6.2.3.3 (also the MAC prefix of 6.2.3.1). RFC 9146 changes it for
 * records with a connection id: that is the one place to extend.
 */
function additionalData(header: RecordHeaderFields, length: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  writeSeqNum(out, 0, header);
  out[8] = header.type;
  out.writeUInt16BE(header.version, 9);
  out.writeUInt16BE(length, 11);
  return out;
}

const CCM_EXPLICIT_NONCE = 8;
const CCM_TAG = 8;

/** AES-128-CCM with an 8-byte tag (RFC 6655): explicit nonce = seq_num, implicit = 4-byte salt. */
export class Ccm8Protection implements RecordProtection {
  readonly overhead = CCM_EXPLICIT_NONCE + CCM_TAG;
  readonly #key: Buffer;
  /** The nonce: the fixed IV, then the explicit part, rewritten for every record. */
  readonly #nonce: Buffer;

  constructor(keys: TrafficKeys) {
    this.#key = keys.encKey;
    this.#nonce = Buffer.alloc(keys.fixedIv.length + CCM_EXPLICIT_NONCE);
    keys.fixedIv.copy(this.#nonce);
  }

  seal(header: RecordHeaderFields, plaintext: Buffer): Buffer {
    const out = Buffer.allocUnsafe(CCM_EXPLICIT_NONCE + plaintext.length + CCM_TAG);
    writeSeqNum(out, 0, header);
    const cipher = createCipheriv('aes-128-ccm', this.#key, this.#withExplicit(out), {
      authTagLength: CCM_TAG,
    });
    cipher.setAAD(additionalData(header, plaintext.length), { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    cipher.final();
    body.copy(out, CCM_EXPLICIT_NONCE);
    cipher.getAuthTag().copy(out, CCM_EXPLICIT_NONCE + plaintext.length);
    return out;
  }

  open(header: RecordHeaderFields, fragment: Buffer): Buffer | undefined {
    const length = fragment.length - CCM_EXPLICIT_NONCE - CCM_TAG;
    if (length < 0) return undefined;
    try {
      const decipher = createDecipheriv('aes-128-ccm', this.#key, this.#withExplicit(fragment), {
        authTagLength: CCM_TAG,
      });
      decipher.setAuthTag(fragment.subarray(fragment.length - CCM_TAG));
      decipher.setAAD(additionalData(header, length), { plaintextLength: length });
      const plain = decipher.update(fragment.subarray(CCM_EXPLICIT_NONCE, CCM_EXPLICIT_NONCE + length));
      decipher.final();
      return plain;
    } catch {
      return undefined;
    }
  }

  /** The nonce with the explicit part taken from the first 8 bytes of `source` (used at once). */
  #withExplicit(source: Buffer): Buffer {
    source.copy(this.#nonce, this.#nonce.length - CCM_EXPLICIT_NONCE, 0, CCM_EXPLICIT_NONCE);
    return this.#nonce;
  }
}

const BLOCK = 16;
const SHA256_LENGTH = 32;

/**
 * AES-128-CBC with HMAC-SHA256, MAC-then-encrypt with an explicit IV (RFC 5246 6.2.3.2). A bad
 * padding and a bad MAC take the same path: the MAC is always computed, and both drop the record.
 */
export class CbcSha256Protection implements RecordProtection {
  readonly overhead = BLOCK + SHA256_LENGTH + BLOCK;
  readonly #encKey: Buffer;
  readonly #macKey: Buffer;

  constructor(keys: TrafficKeys) {
    this.#encKey = keys.encKey;
    this.#macKey = keys.macKey;
  }

  seal(header: RecordHeaderFields, plaintext: Buffer): Buffer {
    const mac = this.#mac(header, plaintext, plaintext.length);
    const unpadded = plaintext.length + SHA256_LENGTH;
    const padLength = BLOCK - 1 - (unpadded % BLOCK);
    const padding = Buffer.alloc(padLength + 1, padLength);
    const iv = randomBytes(BLOCK);
    const cipher = createCipheriv('aes-128-cbc', this.#encKey, iv);
    cipher.setAutoPadding(false);
    return Buffer.concat([iv, cipher.update(Buffer.concat([plaintext, mac, padding])), cipher.final()]);
  }

  open(header: RecordHeaderFields, fragment: Buffer): Buffer | undefined {
    if (fragment.length < 2 * BLOCK + SHA256_LENGTH || fragment.length % BLOCK !== 0) return undefined;
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-128-cbc', this.#encKey, fragment.subarray(0, BLOCK));
      decipher.setAutoPadding(false);
      plain = Buffer.concat([decipher.update(fragment.subarray(BLOCK)), decipher.final()]);
    } catch {
      return undefined;
    }
    const padLength = plain[plain.length - 1]!;
    let good = padLength + 1 + SHA256_LENGTH <= plain.length ? 1 : 0;
    // Every padding byte must equal the padding length; a bad one is treated as no padding.
    const checked = Math.min(padLength + 1, plain.length);
    for (let i = 1; i <= checked; i++) good &= plain[plain.length - i] === padLength ? 1 : 0;
    const contentLength = plain.length - SHA256_LENGTH - (good ? padLength + 1 : 0);
    const expected = this.#mac(header, plain, contentLength);
    const received = plain.subarray(contentLength, contentLength + SHA256_LENGTH);
    const macGood = timingSafeEqual(expected, received);
    if (!(good && macGood)) return undefined;
    return plain.subarray(0, contentLength);
  }

  #mac(header: RecordHeaderFields, content: Buffer, length: number): Buffer {
    return createHmac('sha256', this.#macKey)
      .update(additionalData(header, length))
      .update(content.subarray(0, length))
      .digest();
  }
}
