import type { Socket } from 'node:dgram';
import type { Peer } from './address.js';

/**
 * Where the CoAP layer's datagrams go: a UDP socket today, a DTLS session layer tomorrow. Everything
 * above it (the server's exchanges, the downlink requester) sends through this and nothing else, so
 * a transport under it needs no special case.
 */
export interface DatagramSender {
  /** Sends one datagram; `onError` hears of a failed send (the datagram is lost). */
  send(datagram: Buffer, peer: Peer, onError?: (err: Error) => void): void;
}

/** A DatagramSender over a bound UDP socket. */
export function udpSender(socket: Socket): DatagramSender {
  return {
    send(datagram, peer, onError) {
      socket.send(datagram, peer.port, peer.address, (err) => {
        if (err != null) onError?.(err);
      });
    },
  };
}
