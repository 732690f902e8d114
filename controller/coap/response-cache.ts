/** What node-coap stores per answered request: the datagram, with its sender and stream attached. */
export interface CachedDatagram extends Buffer {
  /** node-coap's RetrySend: retransmits a CON response until it is acknowledged. */
  sender?: { reset(): void };
  /** Set for observe streams, which live on after their first answer. */
  response?: unknown;
}

const CON_TYPE = 0;

/**
 * One answered request: while its sender may still retransmit (a CON response) it stays `live`;
 * afterwards only the datagram's bytes are kept, as a one-byte string (about 20 B of heap instead of
 * the Buffer, the response stream, its request and the retry sender node-coap hangs on it, ~4 KB).
 */
class Entry {
  /** Deleted, or replaced under its key: waits in the order queue only to be skipped. */
  dropped = false;
  constructor(
    readonly key: string,
    public live: CachedDatagram | undefined,
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
 * Replacement for node-coap's response cache (its `_lru`, same methods): answers a duplicate CON
 * request with the same datagram within EXCHANGE_LIFETIME (RFC 7252 4.5). Entries are compacted to
 * their bytes right after they are sent, and since every entry lives for the same TTL, insertion
 * order is expiry order: purging walks from the oldest and stops at the first live one.
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
  /** node-coap sets and clears its own purge interval here. */
  pruneTimer: NodeJS.Timeout | undefined;

  constructor(opts: ResponseCacheOptions) {
    this.#max = opts.maxEntries;
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? (() => Math.floor(performance.now()));
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached datagram for a duplicate request, or undefined. */
  peek(key: string): CachedDatagram | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.delete(key);
      return undefined;
    }
    return entry.live ?? (Buffer.from(entry.wire, 'latin1') as CachedDatagram);
  }

  /** node-coap attaches the sender right after this call and sends; compaction waits until then. */
  set(key: string, datagram: CachedDatagram): this {
    this.delete(key);
    const now = this.#now();
    this.purgeStale(now);
    while (this.#entries.size >= this.#max && this.#head < this.#order.length) {
      const oldest = this.#order[this.#head++]!;
      if (!oldest.dropped) this.delete(oldest.key);
    }
    const entry = new Entry(key, datagram, '', now + this.#ttlMs);
    this.#entries.set(key, entry);
    this.#order.push(entry);
    this.#compactOrder();
    queueMicrotask(() => compact(entry));
    return this;
  }

  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    entry.dropped = true;
    entry.wire = '';
    entry.live?.sender?.reset();
    entry.live = undefined;
    return true;
  }

  clear(): void {
    for (const entry of this.#entries.values()) entry.live?.sender?.reset();
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

/** Keeps only the bytes of a datagram nothing will retransmit (piggybacked ACKs, NON, RST). */
function compact(entry: Entry): void {
  const datagram = entry.live;
  if (datagram === undefined || datagram.response !== undefined) return;
  const type = (datagram[0]! >> 4) & 3;
  if (type === CON_TYPE) return;
  // A non-CON send has nothing to retransmit; this only clears its "no reply" timer.
  datagram.sender?.reset();
  entry.wire = datagram.toString('latin1');
  entry.live = undefined;
}
