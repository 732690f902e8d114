import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClientHelloPrefix } from './handshake-codec.js';

export const COOKIE_LENGTH = 20;

/**
 * Stateless HelloVerifyRequest cookies (RFC 6347 4.2.1): an HMAC under a server secret over the
 * client's address and port and the ClientHello fields before the cookie (version, random, session
 * id), which its second ClientHello repeats. Only those: a ClientHello split into fragments shows
 * them in its first fragment, so the cookie is checked before anything of the message is kept.
 * The random binds the cookie to this client's attempt; the rest of the ClientHello is bound by
 * the handshake transcript and the Finished messages.
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

  make(peer: string, hello: ClientHelloPrefix): Buffer {
    this.#rotate();
    return cookieFor(this.#secret, peer, hello);
  }

  verify(peer: string, hello: ClientHelloPrefix): boolean {
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

function cookieFor(secret: Buffer, peer: string, hello: ClientHelloPrefix): Buffer {
  const version = Buffer.allocUnsafe(2);
  version.writeUInt16BE(hello.clientVersion, 0);
  return createHmac('sha256', secret)
    .update(peer)
    .update('\0')
    .update(version)
    .update(hello.random)
    .update(Buffer.from([hello.sessionId.length]))
    .update(hello.sessionId)
    .digest()
    .subarray(0, COOKIE_LENGTH);
}
