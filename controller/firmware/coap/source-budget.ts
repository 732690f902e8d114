/** A token bucket's size and refill rate, in response bytes. */
export interface ByteRate {
  readonly bytesPerSecond: number;
  readonly burstBytes: number;
}

/**
 * Per address with no registered device. A 27-byte block request fetches a 1 KiB block and UDP
 * sources are easily spoofed: unbounded, /fw/ amplifies a flood toward any address about 40 times.
 * Still enough for a device that downloads from an address it has not registered from.
 */
export const UNREGISTERED_SOURCE_RATE: ByteRate = { bytesPerSecond: 16 * 1024, burstBytes: 64 * 1024 };

/** Shared by all addresses with no registered device, so many spoofed sources add up to no more. */
export const UNREGISTERED_TOTAL_RATE: ByteRate = { bytesPerSecond: 512 * 1024, burstBytes: 1024 * 1024 };

/** Per address a registered device uses: many devices may share one behind a NAT. */
export const REGISTERED_SOURCE_RATE: ByteRate = {
  bytesPerSecond: 2 * 1024 * 1024,
  burstBytes: 4 * 1024 * 1024,
};

/** How a source address is budgeted: its own rate, and whether it also draws on the shared pool. */
export interface SourceClass {
  readonly rate: ByteRate;
  readonly pooled: boolean;
}

export const UNREGISTERED_SOURCE: SourceClass = { rate: UNREGISTERED_SOURCE_RATE, pooled: true };
export const REGISTERED_SOURCE: SourceClass = { rate: REGISTERED_SOURCE_RATE, pooled: false };

export type BudgetVerdict =
  | { readonly kind: 'granted' }
  /** Over budget: enough bytes will be there again after `retryAfterMs`. */
  | { readonly kind: 'refused'; readonly retryAfterMs: number };

export interface SourceBudgetOptions {
  /** How a source address is budgeted, asked on every take (a device may register meanwhile). */
  readonly classify?: (source: string) => SourceClass;
  /** The bucket shared by pooled sources. */
  readonly pool?: ByteRate;
  /** Source addresses remembered; past it the least recently seen one is forgotten. */
  readonly maxSources?: number;
  readonly now?: () => number;
}

class Bucket {
  constructor(
    public tokens: number,
    public at: number,
  ) {}

  refill(rate: ByteRate, now: number): void {
    const elapsed = Math.max(0, now - this.at);
    this.tokens = Math.min(rate.burstBytes, this.tokens + (elapsed * rate.bytesPerSecond) / 1000);
    this.at = now;
  }

  /** Milliseconds until `bytes` (at most a full bucket) are there; 0 when they are. */
  waitFor(rate: ByteRate, bytes: number): number {
    const missing = Math.min(bytes, rate.burstBytes) - this.tokens;
    return missing <= 0 ? 0 : Math.ceil((missing * 1000) / rate.bytesPerSecond);
  }
}

/**
 * Response bytes each source address may receive: a token bucket per address (bounded in number,
 * the least recently seen forgotten first) and one shared by the addresses classified as pooled.
 */
export class SourceBudget {
  readonly #classify: (source: string) => SourceClass;
  readonly #poolRate: ByteRate;
  readonly #pool: Bucket;
  readonly #maxSources: number;
  readonly #now: () => number;
  /** Least recently seen first. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(opts: SourceBudgetOptions = {}) {
    this.#classify = opts.classify ?? (() => UNREGISTERED_SOURCE);
    this.#poolRate = opts.pool ?? UNREGISTERED_TOTAL_RATE;
    this.#now = opts.now ?? Date.now;
    this.#pool = new Bucket(this.#poolRate.burstBytes, this.#now());
    this.#maxSources = opts.maxSources ?? 10_000;
  }

  get sources(): number {
    return this.#buckets.size;
  }

  /** Spends `bytes` of the source's budget (and of the pool's, for a pooled source), or refuses and spends none. */
  take(source: string, bytes: number): BudgetVerdict {
    const { rate, pooled } = this.#classify(source);
    const now = this.#now();
    const bucket = this.#touch(source, rate, now);
    bucket.refill(rate, now);
    let wait = bucket.waitFor(rate, bytes);
    if (pooled) {
      this.#pool.refill(this.#poolRate, now);
      wait = Math.max(wait, this.#pool.waitFor(this.#poolRate, bytes));
    }
    if (wait > 0) return { kind: 'refused', retryAfterMs: wait };
    bucket.tokens -= bytes;
    if (pooled) this.#pool.tokens -= bytes;
    return { kind: 'granted' };
  }

  #touch(source: string, rate: ByteRate, now: number): Bucket {
    const bucket = this.#buckets.get(source) ?? new Bucket(rate.burstBytes, now);
    this.#buckets.delete(source);
    this.#buckets.set(source, bucket);
    if (this.#buckets.size > this.#maxSources) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    return bucket;
  }
}
