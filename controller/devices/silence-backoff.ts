export interface SilenceBackoffOptions {
  /** Epoch ms. */
  readonly clock: () => number;
  /** Wait after a device's first silence, in ms; it doubles with each further one. Default 60 s. */
  readonly firstDelayMs?: number;
  /** Longest wait, in ms. Default 1 h. */
  readonly maxDelayMs?: number;
  /** Devices remembered at most; past it the oldest quarter is forgotten. Default 1,000,000. */
  readonly maxEntries?: number;
}

/** Silences counted per device; more add nothing (the wait reached its cap long before). */
const MAX_FAILURES = 63;
/** An entry packs three fields in one number: the retry time, a "handed out" flag, the failures. */
const HANDED_OUT = 64;
const FIELDS = 128;

function pack(retryAt: number, handedOut: boolean, failures: number): number {
  return retryAt * FIELDS + (handedOut ? HANDED_OUT : 0) + failures;
}

function retryAtOf(packed: number): number {
  return Math.floor(packed / FIELDS);
}

function handedOutOf(packed: number): boolean {
  return packed % FIELDS >= HANDED_OUT;
}

function failuresOf(packed: number): number {
  return packed % HANDED_OUT;
}

/**
 * When a device that did not answer may be asked again: 60 s after its first silence, doubling with
 * each further one up to 1 h, forgotten once it answers. One number per silent device, so a flood of
 * registrations that never answer costs a few dozen bytes each here.
 */
export class SilenceBackoff {
  readonly #clock: () => number;
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, number>();

  constructor(opts: SilenceBackoffOptions) {
    this.#clock = opts.clock;
    this.#firstDelayMs = Math.max(1, opts.firstDelayMs ?? 60_000);
    this.#maxDelayMs = Math.max(this.#firstDelayMs, opts.maxDelayMs ?? 3_600_000);
    this.#maxEntries = Math.max(4, opts.maxEntries ?? 1_000_000);
  }

  /** Devices waiting out a silence or due for another try. */
  get size(): number {
    return this.#entries.size;
  }

  /** Records that the device did not answer; returns when it may be asked again (epoch ms). */
  silent(endpoint: string): number {
    const packed = this.#entries.get(endpoint);
    const failures = Math.min(MAX_FAILURES, (packed === undefined ? 0 : failuresOf(packed)) + 1);
    const delay = Math.min(this.#maxDelayMs, this.#firstDelayMs * 2 ** (failures - 1));
    const retryAt = this.#clock() + delay;
    if (packed === undefined && this.#entries.size >= this.#maxEntries) this.#evictOldest();
    this.#entries.set(endpoint, pack(retryAt, false, failures));
    return retryAt;
  }

  /** The device answered (or is gone): it starts afresh. */
  forget(endpoint: string): void {
    this.#entries.delete(endpoint);
  }

  /** Silences in a row so far; 0 for a device that never was silent or answered since. */
  failures(endpoint: string): number {
    const packed = this.#entries.get(endpoint);
    return packed === undefined ? 0 : failuresOf(packed);
  }

  /** Epoch ms after which the device may be asked again; undefined when it is not backed off. */
  retryAt(endpoint: string): number | undefined {
    const packed = this.#entries.get(endpoint);
    return packed === undefined ? undefined : retryAtOf(packed);
  }

  /** True unless the device is waiting out a silence. */
  mayTry(endpoint: string): boolean {
    const packed = this.#entries.get(endpoint);
    return packed === undefined || retryAtOf(packed) <= this.#clock();
  }

  /**
   * Devices whose wait is over, each handed out once per silence (the caller asks them again or
   * leaves them to their next Update); at most `limit`, so that one call's work is bounded.
   */
  takeDue(limit = Number.POSITIVE_INFINITY): string[] {
    const now = this.#clock();
    const due: string[] = [];
    for (const [endpoint, packed] of this.#entries) {
      if (due.length >= limit) break;
      if (handedOutOf(packed) || retryAtOf(packed) > now) continue;
      this.#entries.set(endpoint, pack(retryAtOf(packed), true, failuresOf(packed)));
      due.push(endpoint);
    }
    return due;
  }

  #evictOldest(): void {
    let evict = Math.ceil(this.#maxEntries / 4);
    for (const endpoint of this.#entries.keys()) {
      this.#entries.delete(endpoint);
      if (--evict === 0) break;
    }
  }
}
