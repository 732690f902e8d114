import type { DtlsClock } from '../../../controller/dtls/clock.js';

interface Pending {
  readonly at: number;
  readonly fn: () => void;
}

/** A DtlsClock the test moves by hand: timers fire in `advance`, never by themselves. */
export class ManualTimers implements DtlsClock {
  #now = 1_700_000_000_000;
  #next = 0;
  readonly #pending = new Map<number, Pending>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#pending.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }

  /** Timers armed and not yet fired. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Moves the time on by `ms`, firing due timers in order (including ones they arm). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: [number, Pending] | undefined;
      for (const entry of this.#pending) {
        if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry;
      }
      if (due === undefined) break;
      this.#pending.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = end;
  }
}
