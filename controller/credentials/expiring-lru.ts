/**
 * A cache bounded by count and by age: the least recently used entry goes when a new one would
 * exceed `maxEntries`, and an entry older than `ttlMs` is not returned (and is dropped when met).
 */
export class ExpiringLru<K, V> {
  // A Map iterates in insertion order: a hit is moved to the end, so the first key is the least recent.
  readonly #entries = new Map<K, { readonly value: V; readonly expiresAt: number }>();
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { readonly maxEntries: number; readonly ttlMs: number; readonly now: () => number }) {
    this.#maxEntries = options.maxEntries;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The live entry for `key`, marked as just used; undefined when absent or expired. */
  get(key: K): { readonly value: V } | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= this.#now()) return undefined;
    this.#entries.set(key, entry);
    return entry;
  }

  set(key: K, value: V): void {
    if (this.#maxEntries <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.#now() + this.#ttlMs });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
