import type { HandshakeFragment } from './handshake-codec.js';
import { type HandshakeMessage, Reassembler } from './reassembler.js';

/**
 * The fragments of one ClientHello too large for a datagram (RFC 6347 4.2.3), kept from its first
 * fragment on, which must show a valid cookie: state for a ClientHello is kept only after the
 * client proved it receives at its address. Bounded by the largest handshake message accepted.
 */
export class ClientHelloAssembly {
  readonly address: string;
  readonly port: number;
  readonly random: Buffer;
  readonly messageSeq: number;
  readonly createdAt: number;
  readonly #reassembler: Reassembler;
  /** The highest record sequence number of its fragments: the server's records continue above it. */
  #recordSeq: number;

  constructor(
    peer: { readonly address: string; readonly port: number },
    random: Buffer,
    first: HandshakeFragment,
    now: number,
    maxMessageBytes: number,
  ) {
    this.address = peer.address;
    this.port = peer.port;
    this.random = Buffer.from(random);
    this.messageSeq = first.messageSeq;
    this.createdAt = now;
    this.#recordSeq = 0;
    this.#reassembler = new Reassembler(first.messageSeq, { maxMessageBytes, maxAhead: 1 });
  }

  get recordSeq(): number {
    return this.#recordSeq;
  }

  /** Adds a fragment of this ClientHello; the whole message once the last piece is in. */
  add(fragment: HandshakeFragment, recordSeq: number): HandshakeMessage | undefined {
    if (fragment.messageSeq !== this.messageSeq) return undefined;
    this.#recordSeq = Math.max(this.#recordSeq, recordSeq);
    return this.#reassembler.add(fragment, 0)[0];
  }
}
