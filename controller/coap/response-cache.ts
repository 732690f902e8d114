/**
 * One answered request. Only the datagram's bytes are kept, as a one-byte string: about 20 B of heap
 * plus the bytes, where a Buffer costs a backing store and its wrapper.
 */
class Entry {
  /** Deleted, or replaced under its key: waits in the order queue only to be skipped. */
  dropped = false;
  constructor(
    readonly key: string,
    public wire: string,
    readonly expiresAt: number,
  ) {}
}

/** Dropped entries skipped at the head of the order queue before it is cut down. */
const COMPACT_AFTER = 1024;

export interface ResponseCacheOptions {
  /** Most entries kept; the oldest goes first. */
  readonly maxEntries: number;
  /** How long an answer is kept for duplicate requests (EXCHANGE_LIFETIME), in ms. */
  readonly ttlMs: number;
  /** Monotonic ms. */
  readonly now?: () => number;
}

/**
 * The answers of the server's exchanges, by request (peer and message id): a duplicate request is
 * answered with the same datagram within EXCHANGE_LIFETIME (RFC 7252 4.5). Since every entry lives
 * for the same TTL, insertion order is expiry order: purging walks from the oldest and stops at the
 * first live one.
 *
 * That order is an array with a moving head, not the Map's own: V8 leaves a deleted Map entry as a
 * hole until the table is rebuilt, and finding the first entry skips every hole, so taking the
 * oldest from a Map that loses its oldest all the time cost ~12 us per answer at 20,000 entries.
 */
export class ResponseCache {
  readonly #entries = new Map<string, Entry>();
  /** Entries oldest first from `#head`; dropped ones stay until they reach the head. */
  #order: Entry[] = [];
  #head = 0;
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  constructor(opts: ResponseCacheOptions) {
    this.#max = opts.maxEntries;
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? (() => Math.floor(performance.now()));
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached datagram for a duplicate request, or undefined. */
  peek(key: string): Buffer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.delete(key);
      return undefined;
    }
    return Buffer.from(entry.wire, 'latin1');
  }

  set(key: string, datagram: Buffer): this {
    this.delete(key);
    const now = this.#now();
    this.purgeStale(now);
    while (this.#entries.size >= this.#max && this.#head < this.#order.length) {
      const oldest = this.#order[this.#head++]!;
      if (!oldest.dropped) this.delete(oldest.key);
    }
    const entry = new Entry(key, datagram.toString('latin1'), now + this.#ttlMs);
    this.#entries.set(key, entry);
    this.#order.push(entry);
    this.#compactOrder();
    return this;
  }

  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    entry.dropped = true;
    entry.wire = '';
    return true;
  }

  clear(): void {
    this.#entries.clear();
    this.#order = [];
    this.#head = 0;
  }

  /** Drops expired entries (oldest first); returns whether any went. */
  purgeStale(now = this.#now()): boolean {
    let purged = false;
    while (this.#head < this.#order.length) {
      const entry = this.#order[this.#head]!;
      if (!entry.dropped) {
        if (entry.expiresAt > now) break;
        this.delete(entry.key);
        purged = true;
      }
      this.#head++;
    }
    this.#compactOrder();
    return purged;
  }

  #compactOrder(): void {
    if (this.#head < COMPACT_AFTER || this.#head * 2 < this.#order.length) return;
    this.#order = this.#order.slice(this.#head);
    this.#head = 0;
  }
}
