import { Deque } from './deque.js';
import { ProbeQueue } from './probe-queue.js';

/**
 * Foreground work (asked for now) goes first; background work (interrogating devices known to
 * answer) fills what is left. Probes (the first request to a device not yet known to answer, or to
 * one that was silent) run in a lane of their own beside both.
 */
export type Priority = 'foreground' | 'background' | 'probe' | 'probe-retry';

export interface LimiterOptions {
  /** Foreground and background tasks running at once, together. */
  readonly max: number;
  /**
   * Background tasks and probes running at once, together, while `busy()` holds; at least 1, so
   * they are never starved. Background tasks have the first claim on them.
   */
  readonly backgroundWhileBusy?: number;
  /** True while background work should yield, e.g. during a registration storm. */
  readonly busy?: () => boolean;
  /** Probes running at once (apart from `max`). Default `max`. */
  readonly maxProbes?: number;
  /**
   * No probe starts while this many background tasks wait: a probe that finds a device answering
   * hands it on to the background queue, which is not to grow without bound. Default 4 `max`.
   */
  readonly maxBackgroundWaitingForProbes?: number;
  /** Called after each task ended and released its slot (and the tasks it made room for started). */
  readonly onFinished?: () => void;
}

/**
 * A running task's slot as a request gate (RequestGate): given back while the task's request waits
 * for a sleeping queue-mode device, taken again (ahead of the tasks waiting to start) before it is
 * sent, so a device that sleeps for hours holds no slot meanwhile.
 */
export interface LimiterSlot {
  release(): void;
  reacquire(): Promise<void>;
}

/**
 * Runs at most `max` foreground and background tasks at once; the rest wait in arrival order,
 * foreground before background. While `busy()` holds, background tasks and probes are cut back to
 * `backgroundWhileBusy` at once; otherwise each background task that finishes lets one more start
 * beside its successor, so their number doubles per round up to `max` instead of jumping there
 * (`busy()` may flicker off for an instant in the middle of a storm).
 *
 * Probes have `maxProbes` slots of their own: a probe of a device that never answers holds its
 * slot until its short deadline, and however many such devices wait, they never hold a slot of
 * the devices that do answer. They ramp up from the storm level too, doubling with each probe
 * that ends. Waiting probes are taken as `ProbeQueue` orders them, and wait
 * while the background queue is long (see `maxBackgroundWaitingForProbes`).
 */
export class Limiter {
  readonly #max: number;
  readonly #maxProbes: number;
  readonly #maxBackgroundWaitingForProbes: number;
  readonly #backgroundWhileBusy: number;
  readonly #busy: () => boolean;
  readonly #onFinished: () => void;
  #backgroundLimit: number;
  #probeLimit: number;
  #running = 0;
  #runningBackground = 0;
  #runningProbes = 0;
  readonly #waiting = {
    foreground: new Deque<() => void>(),
    background: new Deque<() => void>(),
    probes: new ProbeQueue<() => void>(),
    /** Tasks that gave their slot back while waiting for a device, and want it again. */
    resuming: new Deque<() => void>(),
    resumingProbes: new Deque<() => void>(),
  };

  constructor(options: LimiterOptions | number) {
    const o = typeof options === 'number' ? { max: options } : options;
    this.#max = Math.max(1, o.max);
    this.#maxProbes = Math.max(1, o.maxProbes ?? this.#max);
    this.#maxBackgroundWaitingForProbes = Math.max(1, o.maxBackgroundWaitingForProbes ?? 4 * this.#max);
    this.#backgroundWhileBusy = Math.max(1, Math.min(this.#max, o.backgroundWhileBusy ?? this.#max));
    this.#busy = o.busy ?? (() => false);
    this.#onFinished = o.onFinished ?? (() => {});
    // Background work ramps up from the storm level: a storm's first instant looks like a quiet loop.
    this.#backgroundLimit = this.#backgroundWhileBusy;
    this.#probeLimit = this.#backgroundWhileBusy;
  }

  /** Foreground and background tasks running. */
  get running(): number {
    return this.#running;
  }

  get runningBackground(): number {
    return this.#runningBackground;
  }

  get runningProbes(): number {
    return this.#runningProbes;
  }

  /** Foreground and background tasks waiting (to start, or to take their slot again). */
  get waiting(): number {
    return this.#waiting.foreground.length + this.#waiting.background.length + this.#waiting.resuming.length;
  }

  get waitingProbes(): number {
    return this.#waiting.probes.length;
  }

  /** Runs `task` in a slot; it may lend the slot out while it waits for a device (`LimiterSlot`). */
  async run<T>(task: (slot: LimiterSlot) => Promise<T>, priority: Priority = 'foreground'): Promise<T> {
    await new Promise<void>((start) => {
      this.#enqueue(start, priority);
      this.#pump();
    });
    try {
      return await task(this.#slot(priority));
    } finally {
      this.#finished(priority);
    }
  }

  #slot(priority: Priority): LimiterSlot {
    const probe = priority === 'probe' || priority === 'probe-retry';
    const background = priority === 'background';
    return {
      release: () => {
        if (probe) this.#runningProbes--;
        else {
          this.#running--;
          if (background) this.#runningBackground--;
        }
        this.#pump();
      },
      reacquire: () =>
        new Promise<void>((resume) => {
          if (probe) {
            this.#waiting.resumingProbes.push(() => {
              this.#runningProbes++;
              resume();
            });
          } else {
            this.#waiting.resuming.push(() => {
              this.#running++;
              if (background) this.#runningBackground++;
              resume();
            });
          }
          this.#pump();
        }),
    };
  }

  /**
   * Queues a task nobody awaits: while it waits, only the function is held (no suspended async
   * frame and promise per task, ~1 KB each with tens of thousands of interrogations queued).
   * Its rejection is the task's own business; it only ends its slot here. It may lend its slot out
   * as `run`'s tasks do.
   */
  start(task: (slot: LimiterSlot) => Promise<unknown>, priority: Priority = 'foreground'): void {
    this.#enqueue(() => {
      const finished = () => this.#finished(priority);
      try {
        task(this.#slot(priority)).then(finished, finished);
      } catch {
        finished();
      }
    }, priority);
    this.#pump();
  }

  #enqueue(start: () => void, priority: Priority): void {
    if (priority === 'probe') this.#waiting.probes.push(start, 'first');
    else if (priority === 'probe-retry') this.#waiting.probes.push(start, 'retry');
    else this.#waiting[priority].push(start);
  }

  #finished(priority: Priority): void {
    if (priority === 'probe' || priority === 'probe-retry') {
      this.#runningProbes--;
      // Cheap work, so a fast ramp: each probe that ends doubles the probes allowed.
      if (!this.#busy()) this.#probeLimit = Math.min(this.#maxProbes, this.#probeLimit * 2);
      this.#pump();
      this.#onFinished();
      return;
    }
    this.#running--;
    if (priority === 'background') {
      this.#runningBackground--;
      if (!this.#busy()) this.#backgroundLimit = Math.min(this.#max, this.#backgroundLimit + 1);
    }
    this.#pump();
    this.#onFinished();
  }

  #pump(): void {
    while (this.#resume() || this.#startForeground() || this.#startBackground() || this.#startProbe()) {}
  }

  /** A task whose device woke takes its slot again first: the device listens for a short while. */
  #resume(): boolean {
    if (this.#running < this.#max && this.#waiting.resuming.length > 0) {
      this.#waiting.resuming.shift()!();
      return true;
    }
    if (this.#runningProbes < this.#maxProbes && this.#waiting.resumingProbes.length > 0) {
      this.#waiting.resumingProbes.shift()!();
      return true;
    }
    return false;
  }

  #startForeground(): boolean {
    if (this.#running >= this.#max) return false;
    const foreground = this.#waiting.foreground.shift();
    if (foreground === undefined) return false;
    this.#running++;
    foreground();
    return true;
  }

  #startBackground(): boolean {
    if (this.#running >= this.#max || this.#waiting.background.length === 0) return false;
    if (this.#busy()) {
      this.#backgroundLimit = this.#backgroundWhileBusy;
      if (this.#runningBackground + this.#runningProbes >= this.#backgroundWhileBusy) return false;
    } else if (this.#runningBackground >= this.#backgroundLimit) return false;
    const background = this.#waiting.background.shift()!;
    this.#running++;
    this.#runningBackground++;
    background();
    return true;
  }

  #startProbe(): boolean {
    if (this.#runningProbes >= this.#maxProbes || this.#waiting.probes.length === 0) return false;
    if (this.#waiting.background.length >= this.#maxBackgroundWaitingForProbes) return false;
    if (this.#busy()) {
      this.#probeLimit = this.#backgroundWhileBusy;
      // Devices known to answer have the first claim on the few slots a storm leaves.
      if (this.#waiting.background.length > 0 && this.#running < this.#max) return false;
      if (this.#runningBackground + this.#runningProbes >= this.#backgroundWhileBusy) return false;
    } else if (this.#runningProbes >= this.#probeLimit) return false;
    const probe = this.#waiting.probes.shift()!;
    this.#runningProbes++;
    probe();
    return true;
  }
}
