import type { Peer } from '../../coap/address.js';
import type { Answer } from '../../coap/inbound-exchanges.js';
import type { ParsedOption } from '../../coap/options.js';

/** The parts of a served CoAP request (the CoAP layer's InboundRequest) the firmware handler uses. */
export interface CoapRequestLike {
  readonly packet: { readonly code: string; readonly options: readonly ParsedOption[] };
  readonly peer: Peer;
  /** Answers the request; only the first answer counts. */
  answer(answer: Answer): void;
}
