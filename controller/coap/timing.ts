/** Retransmission and exchange timing of the CoAP server's exchanges and the downlink requester. */
export interface CoapTiming {
  /** Initial ACK timeout (RFC 7252 ACK_TIMEOUT), in ms. */
  readonly ackTimeoutMs: number;
  readonly ackRandomFactor: number;
  readonly maxRetransmit: number;
  /** How long to wait for a separate response after an empty ACK, in ms. */
  readonly responseTimeoutMs: number;
  /** Assumed worst one-way latency, in ms; sets the exchange lifetime (dedup and cache windows). */
  readonly maxLatencyMs: number;
  /**
   * How long an answer to a device's CON request (a Register, say) may take and still ride on the
   * ACK; past it the device gets an empty ACK and the answer follows as a separate CON response.
   * Below ACK_TIMEOUT, so a device rarely retransmits a request whose answer is on its way, and
   * above the server's wait for a registration's commit (1 s), so that answer rides on the ACK.
   */
  readonly piggybackMs: number;
}

/** Tuned for fleets: gives up on a silent device after about 14-21 s instead of 247 s. */
export const FLEET_TIMING: CoapTiming = {
  ackTimeoutMs: 2000,
  ackRandomFactor: 1.5,
  maxRetransmit: 2,
  responseTimeoutMs: 30_000,
  maxLatencyMs: 5000,
  piggybackMs: 1500,
};

/** MAX_TRANSMIT_SPAN + 2 * MAX_LATENCY + PROCESSING_DELAY, in ms. */
export function exchangeLifetimeMs(t: CoapTiming): number {
  const span = t.ackTimeoutMs * (2 ** t.maxRetransmit - 1) * t.ackRandomFactor;
  return span + 2 * t.maxLatencyMs + t.ackTimeoutMs;
}
