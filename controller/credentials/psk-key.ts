import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A pre-shared key. Its bytes are reachable only through `bytes()`: JSON, string conversion and
 * `util.inspect` (pino, console, error messages) print `[redacted]`, so a key that ends up in a log
 * line, an event or an API answer by mistake still does not leak.
 */
export class PskKey {
  readonly #bytes: Buffer;

  constructor(bytes: Uint8Array) {
    this.#bytes = Buffer.from(bytes);
  }

  bytes(): Buffer {
    return this.#bytes;
  }

  get length(): number {
    return this.#bytes.length;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `PskKey(${REDACTED})`;
  }
}
