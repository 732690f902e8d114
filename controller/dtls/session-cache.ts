/** What an abbreviated handshake (RFC 5246 7.3) needs of the session it resumes. */
export interface ResumableSession {
  readonly masterSecret: Buffer;
  readonly cipherSuite: number;
  readonly identity: Buffer;
  /** SHA-256 of the key the session was made with; a resumption checks the key is still the same. */
  readonly keyDigest: Buffer;
  readonly extendedMasterSecret: boolean;
  readonly createdAt: number;
  /** The IP address the session was made from: a resumption from there needs no cookie round. */
  readonly address: string;
}

/**
 * What is kept of a session: its secrets as one-byte strings, which cost a fraction of the heap a
 * Buffer does (an ArrayBuffer and a view each); Buffers are made again only to resume.
 */
interface StoredSession {
  readonly masterSecret: string;
  readonly keyDigest: string;
  readonly cipherSuite: number;
  readonly identity: Buffer;
  readonly extendedMasterSecret: boolean;
  readonly createdAt: number;
  readonly address: string;
}

/** Sessions by id, bounded in count and age; the least recently stored goes first. */
export class SessionCache {
  readonly #max: number;
  readonly #lifetimeMs: number;
  readonly #sessions = new Map<string, StoredSession>();

  constructor(max: number, lifetimeMs: number) {
    this.#max = max;
    this.#lifetimeMs = lifetimeMs;
  }

  get size(): number {
    return this.#sessions.size;
  }

  store(id: Buffer, session: ResumableSession): void {
    if (this.#max <= 0) return;
    const key = id.toString('latin1');
    this.#sessions.delete(key);
    while (this.#sessions.size >= this.#max) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest === undefined) break;
      this.#sessions.delete(oldest);
    }
    this.#sessions.set(key, {
      masterSecret: session.masterSecret.toString('latin1'),
      keyDigest: session.keyDigest.toString('latin1'),
      cipherSuite: session.cipherSuite,
      identity: session.identity,
      extendedMasterSecret: session.extendedMasterSecret,
      createdAt: session.createdAt,
      address: session.address,
    });
  }

  find(id: Buffer, now: number): ResumableSession | undefined {
    if (id.length === 0) return undefined;
    const key = id.toString('latin1');
    const session = this.#sessions.get(key);
    if (session === undefined) return undefined;
    if (now - session.createdAt >= this.#lifetimeMs) {
      this.#sessions.delete(key);
      return undefined;
    }
    return {
      ...session,
      masterSecret: Buffer.from(session.masterSecret, 'latin1'),
      keyDigest: Buffer.from(session.keyDigest, 'latin1'),
    };
  }

  /** Whether `id` names a live session made from `address` (a cheap check before any parsing). */
  madeFrom(id: Buffer, address: string, now: number): boolean {
    if (id.length === 0) return false;
    const session = this.#sessions.get(id.toString('latin1'));
    return session !== undefined && session.address === address && now - session.createdAt < this.#lifetimeMs;
  }

  remove(id: Buffer): void {
    this.#sessions.delete(id.toString('latin1'));
  }

  clear(): void {
    this.#sessions.clear();
  }
}
