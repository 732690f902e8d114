import { createCipheriv, createDecipheriv, createHash, type Hash, timingSafeEqual } from 'node:crypto';
import { publicRandom } from './public-random.js';

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

const CCM_KEY = 16;
const CCM_SALT = 4;
const CCM_EXPLICIT_NONCE = 8;
const CCM_TAG = 8;

/** AES-128-CCM with an 8-byte tag (RFC 6655): explicit nonce = seq_num, implicit = 4-byte salt. */
export class Ccm8Protection implements RecordProtection {
  readonly overhead = CCM_EXPLICIT_NONCE + CCM_TAG;
  /**
   * The key, then the 4-byte salt, as one one-byte string: about 40 bytes of heap for an idle
   * session's direction, where a KeyObject costs some 300 (its JS objects and native handle) and a
   * Buffer some 180. It is made a Buffer again for each record, which costs far less than the cipher.
   */
  readonly #keyAndSalt: string;

  constructor(keys: TrafficKeys) {
    this.#keyAndSalt = Buffer.concat([keys.encKey, keys.fixedIv.subarray(0, CCM_SALT)]).toString('latin1');
  }

  seal(header: RecordHeaderFields, plaintext: Buffer): Buffer {
    const out = Buffer.allocUnsafe(CCM_EXPLICIT_NONCE + plaintext.length + CCM_TAG);
    writeSeqNum(out, 0, header);
    const cipher = this.#withKey(out, (key, nonce) =>
      createCipheriv('aes-128-ccm', key, nonce, { authTagLength: CCM_TAG }),
    );
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
      const decipher = this.#withKey(fragment, (key, nonce) =>
        createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: CCM_TAG }),
      );
      decipher.setAuthTag(fragment.subarray(fragment.length - CCM_TAG));
      decipher.setAAD(additionalData(header, length), { plaintextLength: length });
      const plain = decipher.update(fragment.subarray(CCM_EXPLICIT_NONCE, CCM_EXPLICIT_NONCE + length));
      decipher.final();
      return plain;
    } catch {
      return undefined;
    }
  }

  /** `use` gets the key and the nonce: the salt, then the explicit part from the first 8 bytes of `source`. */
  #withKey<T>(source: Buffer, use: (key: Buffer, nonce: Buffer) => T): T {
    const material = Buffer.from(this.#keyAndSalt, 'latin1');
    const nonce = Buffer.allocUnsafe(CCM_SALT + CCM_EXPLICIT_NONCE);
    material.copy(nonce, 0, CCM_KEY);
    source.copy(nonce, CCM_SALT, 0, CCM_EXPLICIT_NONCE);
    try {
      return use(material.subarray(0, CCM_KEY), nonce);
    } finally {
      material.fill(0);
    }
  }
}

const BLOCK = 16;
const SHA256_LENGTH = 32;
const SHA256_BLOCK = 64;
/** Padding is at most 255 bytes plus its length byte (RFC 5246 6.2.3.2). */
const MAX_PADDING = 256;

/**
 * AES-128-CBC with HMAC-SHA256, MAC-then-encrypt with an explicit IV (RFC 5246 6.2.3.2).
 *
 * Opening does the same work whatever the padding says (Lucky Thirteen, RFC 5246 6.2.3.2's note):
 * the last 256 bytes are always scanned, a bad padding counts as none, the MAC hashes as many bytes
 * whatever the content length turns out to be, the MACs are compared with `timingSafeEqual`, and a
 * bad padding and a bad MAC give the same answer (undefined: the caller drops the record, or ends a
 * handshake with bad_record_mac). Node's crypto offers no constant-time HMAC over a secret length,
 * so this is constant work up to one SHA-256 block, not constant time.
 */
export class CbcSha256Protection implements RecordProtection {
  readonly overhead = BLOCK + SHA256_LENGTH + BLOCK;
  readonly #encKey: Buffer;
  /** HMAC (RFC 2104) as two hashes: the inner one already holds the key XOR ipad, the outer key XOR opad. */
  readonly #inner: Hash;
  readonly #outerPad: Buffer;

  constructor(keys: TrafficKeys) {
    this.#encKey = keys.encKey;
    const key = Buffer.alloc(SHA256_BLOCK);
    keys.macKey.copy(key);
    this.#inner = createHash('sha256').update(key.map((b) => b ^ 0x36));
    this.#outerPad = Buffer.from(key.map((b) => b ^ 0x5c));
  }

  seal(header: RecordHeaderFields, plaintext: Buffer): Buffer {
    const mac = this.#mac(header, plaintext, plaintext.length, plaintext.length);
    const unpadded = plaintext.length + SHA256_LENGTH;
    const padLength = BLOCK - 1 - (unpadded % BLOCK);
    const padding = Buffer.alloc(padLength + 1, padLength);
    const iv = publicRandom(BLOCK);
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
    const withoutMac = plain.length - SHA256_LENGTH;
    const padLength = plain[plain.length - 1]!;
    let good = padLength + 1 <= withoutMac ? 1 : 0;
    // Every padding byte must equal the padding length. The scan covers the largest padding there
    // can be, whatever this one claims; `inPadding` masks the bytes that are not padding.
    const scan = Math.min(MAX_PADDING, plain.length);
    for (let i = 1; i <= scan; i++) {
      const inPadding = i <= padLength + 1 ? 1 : 0;
      const matches = plain[plain.length - i] === padLength ? 1 : 0;
      good &= matches | (inPadding ^ 1);
    }
    const contentLength = withoutMac - good * (padLength + 1);
    const expected = this.#mac(header, plain, contentLength, withoutMac);
    const received = plain.subarray(contentLength, contentLength + SHA256_LENGTH);
    const macGood = timingSafeEqual(expected, received) ? 1 : 0;
    if ((good & macGood) === 0) return undefined;
    return plain.subarray(0, contentLength);
  }

  /**
   * HMAC-SHA256 of the MAC header and `content[0, length)`; `content[length, hashed)` is hashed as
   * well, into a copy that is thrown away, so that the work does not tell `length`.
   */
  #mac(header: RecordHeaderFields, content: Buffer, length: number, hashed: number): Buffer {
    const inner = this.#inner.copy().update(additionalData(header, length));
    inner.update(content.subarray(0, length));
    const filler = inner.copy();
    filler.update(content.subarray(length, hashed));
    filler.digest();
    return createHash('sha256').update(this.#outerPad).update(inner.digest()).digest();
  }
}
