/** What an abbreviated handshake (RFC 5246 7.3) needs of the session it resumes. */
export interface ResumableSession {
  readonly masterSecret: Buffer;
  readonly cipherSuite: number;
  readonly identity: Buffer;
  /** SHA-256 of the key the session was made with; a resumption checks the key is still the same. */
  readonly keyDigest: Buffer;
  readonly extendedMasterSecret: boolean;
  readonly createdAt: number;
}

/** Sessions by id (hex), bounded in count and age; the least recently stored goes first. */
export class SessionCache {
  readonly #max: number;
  readonly #lifetimeMs: number;
  readonly #sessions = new Map<string, ResumableSession>();

  constructor(max: number, lifetimeMs: number) {
    this.#max = max;
    this.#lifetimeMs = lifetimeMs;
  }

  get size(): number {
    return this.#sessions.size;
  }

  store(id: Buffer, session: ResumableSession): void {
    if (this.#max <= 0) return;
    const key = id.toString('hex');
    this.#sessions.delete(key);
    while (this.#sessions.size >= this.#max) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest === undefined) break;
      this.#sessions.delete(oldest);
    }
    this.#sessions.set(key, session);
  }

  find(id: Buffer, now: number): ResumableSession | undefined {
    if (id.length === 0) return undefined;
    const key = id.toString('hex');
    const session = this.#sessions.get(key);
    if (session === undefined) return undefined;
    if (now - session.createdAt >= this.#lifetimeMs) {
      this.#sessions.delete(key);
      return undefined;
    }
    return session;
  }

  remove(id: Buffer): void {
    this.#sessions.delete(id.toString('hex'));
  }

  clear(): void {
    this.#sessions.clear();
  }
}
