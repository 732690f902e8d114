import { Deque } from './deque.js';

/** A device's first probe, or another one after it was silent. */
export type ProbeKind = 'first' | 'retry';

/**
 * The waiting probes of devices not yet known to answer. First probes go before retries of devices
 * that were silent. First probes are taken from both ends in turn: the newest (a device that
 * registers amid a flood of silent registrations is reached at once, not behind all of them) and
 * the oldest (none waits for as long as a flood goes on).
 */
export class ProbeQueue<T> {
  readonly #first = new Deque<T>();
  readonly #retry = new Deque<T>();
  #newestNext = true;

  get length(): number {
    return this.#first.length + this.#retry.length;
  }

  push(item: T, kind: ProbeKind): void {
    (kind === 'first' ? this.#first : this.#retry).push(item);
  }

  shift(): T | undefined {
    if (this.#first.length > 0) {
      const newest = this.#newestNext;
      this.#newestNext = !newest;
      return newest ? this.#first.pop() : this.#first.shift();
    }
    return this.#retry.shift();
  }
}
