/** Time source for a device's own schedule (registration updates, sleeping, going offline). */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
}

export interface ClockTimer {
  readonly id: unknown;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { id: t };
  },
  clearTimeout: (timer) => {
    if (timer !== undefined) clearTimeout(timer.id as NodeJS.Timeout);
  },
};

/** A clock that only moves when told to; timers fire in due order during `advance`. */
export class ManualClock implements Clock {
  #now: number;
  #timers: { at: number; seq: number; fn: () => void; timer: ClockTimer }[] = [];
  #seq = 0;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer: ClockTimer = { id: ++this.#seq };
    this.#timers.push({ at: this.#now + Math.max(0, ms), seq: this.#seq, fn, timer });
    return timer;
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    this.#timers = this.#timers.filter((t) => t.timer !== timer);
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
    }
    this.#now = end;
  }

  /** Number of timers waiting. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Time at which the next timer is due, if any. */
  nextDue(): number | undefined {
    return this.#timers.reduce<number | undefined>(
      (min, t) => (min === undefined || t.at < min ? t.at : min),
      undefined,
    );
  }
}

/** Resolves `ms` later on `clock`; once `signal` aborts, clears the timer and rejects with its reason. */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
