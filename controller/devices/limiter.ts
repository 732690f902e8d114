/** A first-in first-out queue with O(1) shift (an array's shift copies it: tens of thousands may wait). */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/** Foreground work (asked for now) goes first; background work (interrogation) fills what is left. */
export type Priority = 'foreground' | 'background';

export interface LimiterOptions {
  /** Tasks running at once, both priorities together. */
  readonly max: number;
  /** Background tasks running at once while `busy()` holds; at least 1, so they are never starved. */
  readonly backgroundWhileBusy?: number;
  /** True while background work should yield, e.g. during a registration storm. */
  readonly busy?: () => boolean;
}

/**
 * Runs at most `max` tasks at once; the rest wait in arrival order, foreground before background.
 * While `busy()` holds, background tasks are cut back to `backgroundWhileBusy` at once; otherwise
 * each background task that finishes lets one more start beside its successor, so their number
 * doubles per round up to `max` instead of jumping there (`busy()` may flicker off for an instant in
 * the middle of a storm).
 */
export class Limiter {
  readonly #max: number;
  readonly #backgroundWhileBusy: number;
  readonly #busy: () => boolean;
  #backgroundLimit: number;
  #running = 0;
  #runningBackground = 0;
  readonly #waiting = { foreground: new Fifo<() => void>(), background: new Fifo<() => void>() };

  constructor(options: LimiterOptions | number) {
    const o = typeof options === 'number' ? { max: options } : options;
    this.#max = Math.max(1, o.max);
    this.#backgroundWhileBusy = Math.max(1, Math.min(this.#max, o.backgroundWhileBusy ?? this.#max));
    this.#busy = o.busy ?? (() => false);
    // Background work ramps up from the storm level: a storm's first instant looks like a quiet loop.
    this.#backgroundLimit = this.#backgroundWhileBusy;
  }

  get running(): number {
    return this.#running;
  }

  get runningBackground(): number {
    return this.#runningBackground;
  }

  get waiting(): number {
    return this.#waiting.foreground.length + this.#waiting.background.length;
  }

  async run<T>(task: () => Promise<T>, priority: Priority = 'foreground'): Promise<T> {
    await new Promise<void>((start) => {
      this.#waiting[priority].push(start);
      this.#pump();
    });
    try {
      return await task();
    } finally {
      this.#finished(priority);
    }
  }

  /**
   * Queues a task nobody awaits: while it waits, only the function is held (no suspended async
   * frame and promise per task, ~1 KB each with tens of thousands of interrogations queued).
   * Its rejection is the task's own business; it only ends its slot here.
   */
  start(task: () => Promise<unknown>, priority: Priority = 'foreground'): void {
    this.#waiting[priority].push(() => {
      const finished = () => this.#finished(priority);
      try {
        task().then(finished, finished);
      } catch {
        finished();
      }
    });
    this.#pump();
  }

  #finished(priority: Priority): void {
    this.#running--;
    if (priority === 'background') {
      this.#runningBackground--;
      if (!this.#busy()) this.#backgroundLimit = Math.min(this.#max, this.#backgroundLimit + 1);
    }
    this.#pump();
  }

  #pump(): void {
    while (this.#running < this.#max) {
      const foreground = this.#waiting.foreground.shift();
      if (foreground !== undefined) {
        this.#running++;
        foreground();
        continue;
      }
      if (this.#waiting.background.length === 0) return;
      if (this.#busy()) this.#backgroundLimit = this.#backgroundWhileBusy;
      if (this.#runningBackground >= this.#backgroundLimit) return;
      const background = this.#waiting.background.shift()!;
      this.#running++;
      this.#runningBackground++;
      background();
    }
  }
}
