/**
 * Notices when nothing has moved for `limitMs`: the demo's only way to tell "slow" from
 * "broken". Waiting out a rollout's own pause is not a stall.
 */
export class StallWatch {
  readonly #limitMs: number;
  #signature: string | undefined;
  #since = 0;

  constructor(limitMs: number) {
    this.#limitMs = limitMs;
  }

  /** Records what was seen at `now`; true once the same thing has been seen for the limit. */
  observe(signature: string, now: number, waitingByDesign = false): boolean {
    if (signature !== this.#signature || waitingByDesign) {
      this.#signature = signature;
      this.#since = now;
      return false;
    }
    return now - this.#since >= this.#limitMs;
  }

  /** Milliseconds since the last change. */
  quietFor(now: number): number {
    return now - this.#since;
  }
}
