/**
 * Items that come due a fixed delay after they were added, under one timer. Every item waits the
 * same time, so insertion order is due order: a registration storm costs one map entry per pending
 * request instead of a timer (and a promise) each.
 */
export class FixedDelayQueue<T> {
  readonly #delayMs: number;
  readonly #onDue: (item: T) => void;
  readonly #now: () => number;
  /** Item -> when it comes due (monotonic ms), oldest first. */
  readonly #due = new Map<T, number>();
  #timer: NodeJS.Timeout | undefined;

  /** `onDue` must not throw (it runs from the timer, for every item due at once). */
  constructor(delayMs: number, onDue: (item: T) => void, now: () => number = () => performance.now()) {
    this.#delayMs = delayMs;
    this.#onDue = onDue;
    this.#now = now;
  }

  get size(): number {
    return this.#due.size;
  }

  /** Adds an item (again: its delay starts over). */
  add(item: T): void {
    this.#due.delete(item);
    this.#due.set(item, this.#now() + this.#delayMs);
    if (this.#timer === undefined) this.#arm(this.#delayMs);
  }

  /** Removes an item before it comes due; returns whether it was waiting. */
  delete(item: T): boolean {
    return this.#due.delete(item);
  }

  clear(): void {
    this.#due.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, Math.ceil(ms)));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    const now = this.#now();
    for (const [item, due] of this.#due) {
      if (due > now) {
        this.#arm(due - now);
        return;
      }
      this.#due.delete(item);
      this.#onDue(item);
    }
  }
}
