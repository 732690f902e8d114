import type { Peer } from '../../coap/address.js';
import type { InboundRequest } from '../../coap/inbound-exchanges.js';
import { CoapRequester } from '../../coap/requester.js';
import { CoapServer, type CoapServerOptions } from '../../coap/server.js';
import type { CoapTiming } from '../../coap/timing.js';
import type { DatagramTransport, SecurityMode } from '../../coap/transport.js';

export type CoapStackOptions = Omit<
  CoapServerOptions,
  'sender' | 'onResponse' | 'onRequest' | 'nextMessageId' | 'timing'
>;

/**
 * The CoAP layer over one transport: its server side (inbound exchanges, response cache, Block1) and
 * its client side (the downlink requester), sharing the transport's socket and message ids. Nothing
 * is shared between stacks, so a peer on one transport never completes an exchange of another.
 */
export class CoapStack {
  readonly server: CoapServer;
  readonly requester: CoapRequester;
  /** A dual-stack socket sends to IPv4 peers as ::ffff:a.b.c.d. */
  readonly #v6: boolean;

  constructor(
    readonly transport: DatagramTransport,
    onRequest: (req: InboundRequest) => void,
    opts: CoapStackOptions,
    timing: CoapTiming,
    clock: () => number,
  ) {
    this.#v6 = transport.address().family === 'IPv6';
    this.requester = new CoapRequester(transport.sender, timing, clock);
    this.server = new CoapServer({
      ...opts,
      sender: transport.sender,
      onResponse: (packet, peer) => this.requester.handleIncoming(packet, peer),
      onRequest,
      timing,
      nextMessageId: (peer) => this.requester.nextMessageId(peer),
    });
    transport.listen((datagram, peer) => this.server.receive(datagram, peer));
  }

  get security(): SecurityMode {
    return this.transport.security;
  }

  /** Where to send to a device registered from a normalised `address` and `port`. */
  peerOf(address: string, port: number): Peer {
    return { address: this.#v6 && address.includes('.') ? `::ffff:${address}` : address, port };
  }

  /** Pending requests end `unreachable`; the socket closes. */
  async close(): Promise<void> {
    this.requester.close();
    this.server.close();
    await this.transport.close();
  }
}
