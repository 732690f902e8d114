/**
 * A running task's slot, given back while the task's device request waits for a sleeping
 * queue-mode device (hours on NB-IoT) and taken again, ahead of the tasks waiting to start, before
 * the request is sent (a RequestGate's `release` and `reacquire`).
 */
export interface WorkSlot {
  release(): void;
  reacquire(): Promise<void>;
}

/**
 * Device requests of a pass run here, in the background, so one slow or silent device never
 * holds back the next pass for everyone else. At most one task per update runs at a time (a
 * busy update is skipped by later passes until its task settles); `limit` bounds the tasks
 * running at once, not counting those whose request waits for a sleeping device (`WorkSlot`).
 * What a task did is in the database; this queue only avoids doing it twice at once, it is not a
 * record of anything.
 */
export class UpdateWorkQueue {
  readonly #limit: number;
  readonly #onSettled: (updateId: number) => void;
  readonly #onError: (error: unknown) => void;
  readonly #busy = new Set<number>();
  readonly #waiting: (() => void)[] = [];
  /** Tasks whose device woke, waiting to take their slot again. */
  readonly #resuming: (() => void)[] = [];
  readonly #idle = new Set<() => void>();
  /** Update id -> the number of tasks that had acted when its last task that acted settled. */
  readonly #settled = new Map<number, number>();
  #acted = 0;
  #lastMark = 0;
  #running = 0;

  constructor(limit: number, onSettled: (updateId: number) => void, onError: (error: unknown) => void) {
    this.#limit = limit;
    this.#onSettled = onSettled;
    this.#onError = onError;
  }

  isBusy(updateId: number): boolean {
    return this.#busy.has(updateId);
  }

  /**
   * A mark to take before reading the updates a pass plans (see `settledSince`). Passes take marks
   * one at a time: what settled before the previous mark is forgotten here.
   */
  mark(): number {
    for (const [updateId, at] of this.#settled) if (at <= this.#lastMark) this.#settled.delete(updateId);
    this.#lastMark = this.#acted;
    return this.#acted;
  }

  /**
   * Whether a task of this update acted and settled after `mark` was taken: a row read since the
   * mark may predate what that task recorded (a read begun before its move committed), so a plan
   * made from it could send a request already sent, a Package URI write that restarts a finished
   * download, say. The update is left to the next pass (its settling triggers one).
   */
  settledSince(updateId: number, mark: number): boolean {
    return (this.#settled.get(updateId) ?? -1) > mark;
  }

  get size(): number {
    return this.#busy.size;
  }

  /**
   * Queues the task unless the update already has one; returns whether it was queued. A task that
   * resolves to `false` did nothing (its update was not this replica's to act on): no `onSettled`.
   */
  submit(updateId: number, task: (slot: WorkSlot) => Promise<unknown>): boolean {
    if (this.#busy.has(updateId)) return false;
    this.#busy.add(updateId);
    const run = () => {
      this.#running++;
      let acted = true;
      task(this.#slot)
        .then(
          (result) => {
            acted = result !== false;
          },
          (error: unknown) => this.#onError(error),
        )
        .finally(() => {
          this.#running--;
          this.#busy.delete(updateId);
          this.#startNext();
          if (acted) {
            this.#settled.set(updateId, ++this.#acted);
            this.#onSettled(updateId);
          }
          if (this.#busy.size === 0) for (const resolve of this.#idle) resolve();
        });
    };
    if (this.#running < this.#limit) run();
    else this.#waiting.push(run);
    return true;
  }

  readonly #slot: WorkSlot = {
    release: () => {
      this.#running--;
      this.#startNext();
    },
    reacquire: () =>
      new Promise<void>((resume) => {
        const take = () => {
          this.#running++;
          resume();
        };
        if (this.#running < this.#limit) take();
        else this.#resuming.push(take);
      }),
  };

  #startNext(): void {
    if (this.#running < this.#limit) (this.#resuming.shift() ?? this.#waiting.shift())?.();
  }

  /** Resolves once every queued task has settled. */
  drain(): Promise<void> {
    if (this.#busy.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#idle.delete(done);
        resolve();
      };
      this.#idle.add(done);
    });
  }
}
