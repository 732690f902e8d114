/** A lookup refused because too many are already waiting for the database. */
export class LookupOverloadedError extends Error {
  constructor(pending: number) {
    super(`${pending} credential lookups are waiting for the database; refusing more`);
    this.name = 'LookupOverloadedError';
  }
}

interface Waiter<V> {
  readonly promise: Promise<V>;
  resolve(value: V): void;
  reject(error: unknown): void;
}

function waiter<V>(): Waiter<V> {
  let resolve!: (value: V) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<V>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface BatchLoaderOptions<K, V> {
  /**
   * Answers a batch of distinct keys: a map with an entry per key found (keys it lacks get
   * `missing`). One call runs at a time.
   */
  readonly fetch: (keys: readonly K[]) => Promise<ReadonlyMap<K, V>>;
  readonly missing: V;
  /** Most keys per fetch. */
  readonly batchSize: number;
  /** Most distinct keys waiting or being fetched; beyond it `load` rejects at once. */
  readonly maxPending: number;
}

/**
 * Turns lookups of single keys into few queries: concurrent loads of one key share one answer, and
 * keys asked for while a fetch runs go together in the next one. At most one fetch runs at a time,
 * and a bounded number of keys wait, so a flood of lookups costs the database one query at a time
 * and this process a bounded amount of memory.
 */
export class BatchLoader<K, V> {
  readonly #options: BatchLoaderOptions<K, V>;
  /** Keys not yet fetched, in arrival order, and keys being fetched. */
  readonly #queued = new Map<K, Waiter<V>>();
  readonly #fetching = new Map<K, Waiter<V>>();
  #running = false;

  constructor(options: BatchLoaderOptions<K, V>) {
    this.#options = options;
  }

  get pending(): number {
    return this.#queued.size + this.#fetching.size;
  }

  load(key: K): Promise<V> {
    const shared = this.#fetching.get(key) ?? this.#queued.get(key);
    if (shared !== undefined) return shared.promise;
    if (this.pending >= this.#options.maxPending) {
      return Promise.reject(new LookupOverloadedError(this.pending));
    }
    const entry = waiter<V>();
    this.#queued.set(key, entry);
    if (!this.#running) void this.#run();
    return entry.promise;
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queued.size > 0) {
        const keys: K[] = [];
        for (const [key, entry] of this.#queued) {
          if (keys.length >= this.#options.batchSize) break;
          keys.push(key);
          this.#fetching.set(key, entry);
        }
        for (const key of keys) this.#queued.delete(key);
        try {
          const found = await this.#options.fetch(keys);
          for (const key of keys) {
            this.#fetching.get(key)?.resolve(found.has(key) ? (found.get(key) as V) : this.#options.missing);
          }
        } catch (error) {
          for (const key of keys) this.#fetching.get(key)?.reject(error);
        } finally {
          this.#fetching.clear();
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
