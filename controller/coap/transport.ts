import type { Peer } from './address.js';
import type { DatagramSender } from './datagram-sender.js';

/** How a transport protects its datagrams: plain UDP, or DTLS with a pre-shared key. */
export type SecurityMode = 'none' | 'psk';

/** Receives every datagram a transport delivers; `peer.identity` is set on an authenticated transport. */
export type DatagramReceiver = (datagram: Buffer, peer: Peer) => void;

/**
 * One way datagrams reach the CoAP layer and leave it: a UDP socket, or a DTLS endpoint on its own
 * socket. Each transport gets its own CoAP exchanges (message ids, tokens, response cache): a peer
 * address and port on one transport is not the same peer as on another.
 */
export interface DatagramTransport {
  readonly security: SecurityMode;
  /** Where the CoAP server's and the requester's datagrams go. */
  readonly sender: DatagramSender;
  /** Starts delivering datagrams (once, before any arrives). */
  listen(receive: DatagramReceiver): void;
  address(): { readonly address: string; readonly port: number; readonly family: string };
  /** Stops delivering and closes the socket. */
  close(): Promise<void>;
}
