import type { DtlsClock } from './clock.js';
import type { FlightEntry } from './flight.js';
import { type RetransmitPolicy, RetransmitTimer } from './retransmit-timer.js';

/** Why a flight goes out: first sending, our timer expired, or the peer sent its flight again. */
export type FlightSendReason = 'new' | 'timer' | 'peer';

/**
 * Our last flight of a handshake (either side) and its retransmission (RFC 6347 4.2.4): sent,
 * sent again on each timer expiry until the peer answers or it is given up, and sent again when
 * the peer repeats its own flight.
 */
export class FlightSender {
  readonly #timer: RetransmitTimer;
  readonly #sendFlight: (flight: readonly FlightEntry[], why: FlightSendReason) => void;
  #flight: readonly FlightEntry[] = [];

  constructor(
    clock: DtlsClock,
    policy: RetransmitPolicy,
    sendFlight: (flight: readonly FlightEntry[], why: FlightSendReason) => void,
  ) {
    this.#timer = new RetransmitTimer(clock, policy);
    this.#sendFlight = sendFlight;
  }

  /**
   * Sends `flight`; with `giveUp`, retransmits it on the timer until `stop` and calls `giveUp`
   * when the retransmissions are used up. Without, it goes again only when the peer repeats.
   */
  send(flight: readonly FlightEntry[], giveUp?: () => void): void {
    this.#flight = flight;
    this.#sendFlight(flight, 'new');
    if (giveUp !== undefined) this.#timer.start(() => this.#sendFlight(this.#flight, 'timer'), giveUp);
  }

  /** The peer sent its flight again: ours was lost. */
  resend(): void {
    if (this.#flight.length > 0) this.#sendFlight(this.#flight, 'peer');
  }

  /** The peer answered (or the handshake ended): no more timer expiries. */
  stop(): void {
    this.#timer.stop();
  }

  /** Stops the timer and forgets the flight: nothing to resend. */
  clear(): void {
    this.#timer.stop();
    this.#flight = [];
  }
}
