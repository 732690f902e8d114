/** A bounds-checked reader of TLS vectors; every overrun throws `DecodeError`. */
export class DecodeError extends Error {}

export class ByteReader {
  readonly #buf: Buffer;
  #offset = 0;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  get remaining(): number {
    return this.#buf.length - this.#offset;
  }

  bytes(n: number): Buffer {
    if (n > this.remaining) throw new DecodeError('truncated');
    const out = this.#buf.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }

  uint8(): number {
    return this.bytes(1)[0]!;
  }

  uint16(): number {
    return this.bytes(2).readUInt16BE(0);
  }

  uint24(): number {
    return this.bytes(3).readUIntBE(0, 3);
  }

  /** A vector with a length prefix of 1, 2 or 3 bytes. */
  vector(lengthBytes: 1 | 2 | 3): Buffer {
    const length = lengthBytes === 1 ? this.uint8() : lengthBytes === 2 ? this.uint16() : this.uint24();
    return this.bytes(length);
  }

  end(): void {
    if (this.remaining !== 0) throw new DecodeError('trailing bytes');
  }
}
