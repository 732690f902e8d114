import type { DtlsClock } from './clock.js';

export interface RetransmitPolicy {
  /** RFC 6347 4.2.4.1: 1 s initially. */
  readonly initialMs: number;
  /** Doubling stops here (60 s). */
  readonly maxMs: number;
  /** Retransmissions before the handshake is given up. */
  readonly maxRetransmits: number;
}

export const DEFAULT_RETRANSMIT: RetransmitPolicy = { initialMs: 1000, maxMs: 60_000, maxRetransmits: 6 };

/** The flight timer of RFC 6347 4.2.4: doubles on each expiry, gives up after `maxRetransmits`. */
export class RetransmitTimer {
  readonly #clock: DtlsClock;
  readonly #policy: RetransmitPolicy;
  #handle: unknown;
  #timeoutMs: number;
  #count = 0;

  constructor(clock: DtlsClock, policy: RetransmitPolicy) {
    this.#clock = clock;
    this.#policy = policy;
    this.#timeoutMs = policy.initialMs;
  }

  /** Arms the timer for a newly sent flight (the timeout carries over; RFC 6347 4.2.4.1 resets it only after a quiet period). */
  start(retransmit: () => void, giveUp: () => void): void {
    this.stop();
    this.#count = 0;
    this.#arm(retransmit, giveUp);
  }

  stop(): void {
    if (this.#handle !== undefined) this.#clock.clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  #arm(retransmit: () => void, giveUp: () => void): void {
    this.#handle = this.#clock.setTimeout(() => {
      this.#handle = undefined;
      if (this.#count >= this.#policy.maxRetransmits) {
        giveUp();
        return;
      }
      this.#count++;
      this.#timeoutMs = Math.min(this.#timeoutMs * 2, this.#policy.maxMs);
      retransmit();
      this.#arm(retransmit, giveUp);
    }, this.#timeoutMs);
  }
}
