import { type ClockTimer, ManualClock } from '../../controller/sim/clock.js';

export interface ScheduledTimer {
  /** Clock time at which it was asked for. */
  readonly from: number;
  /** Clock time at which it falls due. */
  readonly at: number;
}

/** A simulator clock that only moves when told to and keeps a log of every timer asked of it. */
export class RecordingClock extends ManualClock {
  readonly scheduled: ScheduledTimer[] = [];
  #listeners: (() => void)[] = [];

  override setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer = super.setTimeout(fn, ms);
    this.scheduled.push({ from: this.now(), at: this.now() + Math.max(0, ms) });
    for (const listener of this.#listeners.splice(0)) listener();
    return timer;
  }

  /** Resolves with the `index`th timer of the log (0-based) once it has been asked for. */
  async timer(index: number): Promise<ScheduledTimer> {
    while (this.scheduled.length <= index)
      await new Promise<void>((resolve) => this.#listeners.push(resolve));
    return this.scheduled[index] as ScheduledTimer;
  }

  /** Moves time to `at` (never backwards), running every timer that falls due. */
  advanceTo(at: number): void {
    this.advance(Math.max(0, at - this.now()));
  }
}

export type Driven<T> = { readonly result: T; readonly waits: readonly ScheduledTimer[] };

/**
 * Runs `work` on `clock`, moving the clock to each timer as it is asked for (from log index `from`
 * on) until `work` settles. `beforeAdvance` sees each timer that is still to come before time moves
 * to it. Returns what `work` gave and every timer asked for meanwhile.
 */
export async function driveClock<T>(
  clock: RecordingClock,
  work: Promise<T>,
  beforeAdvance: (timer: ScheduledTimer) => void | Promise<void> = () => {},
  from = clock.scheduled.length,
): Promise<Driven<T>> {
  const done = work.then((result) => ({ kind: 'done' as const, result }));
  const waits: ScheduledTimer[] = [];
  for (let index = from; ; index++) {
    const next = await Promise.race([
      done,
      clock.timer(index).then((timer) => ({ kind: 'timer' as const, timer })),
    ]);
    if (next.kind === 'done') return { result: next.result, waits };
    waits.push(next.timer);
    // A timer due no later than now already ran when the clock last moved.
    if (next.timer.at <= clock.now()) continue;
    await beforeAdvance(next.timer);
    clock.advanceTo(next.timer.at);
  }
}
