import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClientHello } from './handshake-codec.js';

export const COOKIE_LENGTH = 20;

/**
 * Stateless HelloVerifyRequest cookies (RFC 6347 4.2.1): an HMAC under a server secret over the
 * client's address and port and the ClientHello parameters its second ClientHello must repeat.
 * The secret rotates every `rotateMs`; cookies of the previous secret are still accepted.
 */
export class CookieJar {
  readonly #rotateMs: number;
  readonly #now: () => number;
  #secret = randomBytes(32);
  #previous: Buffer | undefined;
  #rotatedAt: number;

  constructor(now: () => number, rotateMs = 5 * 60_000) {
    this.#now = now;
    this.#rotateMs = rotateMs;
    this.#rotatedAt = now();
  }

  make(peer: string, hello: ClientHello): Buffer {
    this.#rotate();
    return cookieFor(this.#secret, peer, hello);
  }

  verify(peer: string, hello: ClientHello): boolean {
    this.#rotate();
    if (hello.cookie.length !== COOKIE_LENGTH) return false;
    if (timingSafeEqual(cookieFor(this.#secret, peer, hello), hello.cookie)) return true;
    return (
      this.#previous !== undefined && timingSafeEqual(cookieFor(this.#previous, peer, hello), hello.cookie)
    );
  }

  #rotate(): void {
    const now = this.#now();
    if (now - this.#rotatedAt < this.#rotateMs) return;
    // More than two periods without a cookie: the previous secret is too old to keep as well.
    this.#previous = now - this.#rotatedAt < 2 * this.#rotateMs ? this.#secret : undefined;
    this.#secret = randomBytes(32);
    this.#rotatedAt = now;
  }
}

function cookieFor(secret: Buffer, peer: string, hello: ClientHello): Buffer {
  const suites = Buffer.allocUnsafe(2 * hello.cipherSuites.length);
  hello.cipherSuites.forEach((suite, i) => {
    suites.writeUInt16BE(suite, 2 * i);
  });
  const version = Buffer.allocUnsafe(2);
  version.writeUInt16BE(hello.clientVersion, 0);
  return createHmac('sha256', secret)
    .update(peer)
    .update('\0')
    .update(version)
    .update(hello.random)
    .update(Buffer.from([hello.sessionId.length]))
    .update(hello.sessionId)
    .update(suites)
    .update(hello.compressionMethods)
    .digest()
    .subarray(0, COOKIE_LENGTH);
}
