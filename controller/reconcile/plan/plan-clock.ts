/**
 * The planner's view of the clock. Every question "has this time come?" goes through `reached`,
 * which remembers the earliest time asked about that has not come yet: with no new report from
 * the device and no change of the rollout, the decision stays the same until then (controller-
 * runtime's RequeueAfter, computed instead of guessed). The loop looks at the update again at
 * that time rather than on every timed pass.
 */
export class PlanClock {
  readonly now: number;
  #next = Number.POSITIVE_INFINITY;

  constructor(now: number) {
    this.now = now;
  }

  /** Whether `at` has come (now >= at); one still to come is remembered. */
  reached(at: number): boolean {
    if (this.now >= at) return true;
    if (at < this.#next) this.#next = at;
    return false;
  }

  /** Whether `at` is past (now > at); one not past yet is remembered (a recheck at it is early by an instant). */
  passed(at: number): boolean {
    if (this.now > at) return true;
    if (at < this.#next) this.#next = at;
    return false;
  }

  /** The earliest time asked about that has not come yet; undefined when there was none. */
  get next(): number | undefined {
    return this.#next === Number.POSITIVE_INFINITY ? undefined : this.#next;
  }
}
