const WINDOW = 64;

/**
 * The anti-replay window of RFC 6347 4.1.2.6 for one epoch: the highest sequence number seen and a
 * 64-bit mask of the ones below it. `check` before authenticating, `accept` after.
 */
export class ReplayWindow {
  #top = -1;
  /** Bit i set: sequence number `top - i` has been accepted. */
  #mask = 0n;

  /** False for a sequence number already accepted or too old for the window. */
  check(seq: number): boolean {
    if (seq > this.#top) return true;
    const behind = this.#top - seq;
    if (behind >= WINDOW) return false;
    return ((this.#mask >> BigInt(behind)) & 1n) === 0n;
  }

  accept(seq: number): void {
    if (seq > this.#top) {
      const shift = seq - this.#top;
      this.#mask = shift >= WINDOW ? 1n : ((this.#mask << BigInt(shift)) | 1n) & 0xffffffffffffffffn;
      this.#top = seq;
      return;
    }
    this.#mask |= 1n << BigInt(this.#top - seq);
  }
}
