import { type ParsedPacket, parse } from 'coap-packet';
import type { Peer } from './address.js';
import { type Block1Limits, Block1Transfers } from './block1-transfers.js';
import { methodOf } from './codes.js';
import type { DatagramSender } from './datagram-sender.js';
import { emptyMessage } from './encode-message.js';
import {
  type Answer,
  type AnswerOption,
  InboundExchanges,
  type InboundRequest,
} from './inbound-exchanges.js';
import { CoapOption, hasUnknownCriticalOption, optionNumber, optionValue } from './options.js';
import { ResponseCache } from './response-cache.js';
import { type CoapTiming, exchangeLifetimeMs } from './timing.js';
import { encodeUint } from './uint.js';

export interface CoapServerOptions {
  /** Where every datagram of ours goes: answers, empty ACKs and RSTs, separate responses. */
  readonly sender: DatagramSender;
  /** Called for every response and every empty ACK/RST that is not for us (the downlink side). */
  readonly onResponse: (packet: ParsedPacket, peer: Peer) => void;
  /**
   * Called once for every acceptable request, with its whole body (Block1 reassembled). Answer it
   * exactly once; an exception is caught, logged and answered 5.00.
   */
  readonly onRequest: (req: InboundRequest) => void;
  /** Upper bound of the response (deduplication) cache, in entries. */
  readonly maxCachedResponses: number;
  /** Largest request body accepted, also through Block1. */
  readonly maxBodyBytes: number;
  /** Bounds of block-wise (Block1) request bodies being received; `maxBodyBytes` is the body bound. */
  readonly block1?: Partial<Omit<Block1Limits, 'maxBodyBytes'>>;
  /** Epoch ms, for expiring unfinished block-wise transfers. */
  readonly now?: () => number;
  readonly onError: (message: string, err: unknown) => void;
  /** Retransmission of separate responses, the exchange lifetime and the piggyback window. */
  readonly timing: CoapTiming;
  /** Message ids for our separate responses, from the counter the downlink requester uses. */
  readonly nextMessageId: (peer: Peer) => number;
}

/**
 * The server side of CoAP over one datagram transport: every datagram the transport receives goes
 * to `receive`, and every request is served through one exchange layer. Duplicates are answered
 * from one bounded cache, answers ride on the ACK within one piggyback window (`timing.piggybackMs`)
 * and come as retransmitted separate responses after it, request bodies sent in blocks are
 * reassembled within fixed bounds, and every refusal (4.02, 4.05, 4.13, 5.00) goes back to the peer
 * that caused it. Responses and empty messages not for this layer go to `onResponse`.
 */
export class CoapServer {
  readonly #opts: CoapServerOptions;
  readonly #cache: ResponseCache;
  readonly #purge: NodeJS.Timeout;
  readonly #inbound: InboundExchanges;
  readonly #blocks: Block1Transfers;

  constructor(opts: CoapServerOptions) {
    this.#opts = opts;
    this.#cache = new ResponseCache({
      maxEntries: opts.maxCachedResponses,
      ttlMs: exchangeLifetimeMs(opts.timing),
    });
    this.#inbound = new InboundExchanges({
      send: (datagram, peer) => opts.sender.send(datagram, peer),
      cache: this.#cache,
      nextMessageId: opts.nextMessageId,
      timing: opts.timing,
      piggybackMs: opts.timing.piggybackMs,
    });
    const now = opts.now ?? Date.now;
    // An unfinished transfer is kept as long as a block of it could still be in flight.
    this.#blocks = new Block1Transfers(
      { expiryMs: exchangeLifetimeMs(opts.timing), ...opts.block1, maxBodyBytes: opts.maxBodyBytes },
      now,
    );
    // Expired entries also go as new ones come in; this bounds how long they outlive a burst.
    this.#purge = setInterval(() => {
      this.#cache.purgeStale();
      this.#blocks.expire(now());
    }, 1_000);
    this.#purge.unref();
  }

  /** Stops retransmitting and forgets every exchange; requests still open stay unanswered. */
  close(): void {
    clearInterval(this.#purge);
    this.#inbound.close();
    this.#blocks.clear();
    this.#cache.clear();
  }

  /** Unfinished block-wise request bodies and the bytes held for them. */
  get block1Usage(): Block1Transfers['usage'] {
    return this.#blocks.usage;
  }

  /** Requests being prepared, and separate responses not yet acknowledged. */
  get pending(): InboundExchanges['pending'] {
    return this.#inbound.pending;
  }

  /** One datagram from `peer`, as the transport received it. */
  receive(datagram: Buffer, peer: Peer): void {
    let packet: ParsedPacket;
    try {
      packet = parse(datagram);
    } catch {
      this.#rejectMalformed(datagram, peer);
      return;
    }
    try {
      this.#dispatch(packet, peer);
    } catch (err) {
      this.#opts.onError('failed to handle datagram', err);
    }
  }

  #dispatch(packet: ParsedPacket, peer: Peer): void {
    if (packet.code === '0.00') {
      if (packet.ack || packet.reset) {
        if (!this.#inbound.settle(packet, peer)) this.#opts.onResponse(packet, peer);
      } else if (packet.confirmable) {
        // A CoAP ping (RFC 7252 4.3).
        this.#opts.sender.send(emptyMessage('rst', packet.messageId), peer);
      }
      return;
    }
    if (!packet.code.startsWith('0.')) {
      this.#opts.onResponse(packet, peer);
      return;
    }
    if (packet.ack || packet.reset) return;
    if (methodOf(packet.code) === undefined) {
      this.#refuse(packet, peer, { code: '4.05' });
      return;
    }
    if (hasUnknownCriticalOption(packet.options)) {
      this.#refuse(packet, peer, { code: '4.02' });
      return;
    }
    if (packet.code !== '0.01') {
      packet.options = packet.options.filter((o) => optionNumber(o) !== CoapOption.OBSERVE);
    }
    const block1 = optionValue(packet.options, CoapOption.BLOCK1);
    if (block1 !== undefined) {
      this.#receiveBlock(packet, peer, block1);
      return;
    }
    if (packet.payload.length > this.#opts.maxBodyBytes) {
      this.#refuse(packet, peer, {
        code: '4.13',
        options: [{ name: CoapOption.SIZE1, value: encodeUint(this.#opts.maxBodyBytes) }],
      });
      return;
    }
    this.#serve(packet, peer);
  }

  /**
   * One block of a block-wise request body. Intermediate blocks are answered here (2.31, or the
   * refusal); the whole body is served as one request without the Block1 option, its answer
   * carrying the final Block1 option (RFC 7959 2.3).
   */
  #receiveBlock(packet: ParsedPacket, peer: Peer, raw: Buffer): void {
    if (this.#inbound.answerDuplicate(packet, peer)) return;
    const outcome = this.#blocks.receive(packet, peer, raw);
    if (outcome.kind === 'complete') {
      this.#serve(outcome.request, peer, [outcome.echo]);
      return;
    }
    this.#refuse(packet, peer, outcome.answer);
  }

  #serve(packet: ParsedPacket, peer: Peer, echo?: readonly AnswerOption[]): void {
    const req = this.#inbound.open(packet, peer, echo);
    if (req === undefined) return;
    try {
      this.#opts.onRequest(req);
    } catch (err) {
      this.#opts.onError('request handler threw', err);
      req.answer({ code: '5.00' });
    }
  }

  /** Answers a request here (a refusal, or a 2.31 Continue), once, duplicates from the cache. */
  #refuse(packet: ParsedPacket, peer: Peer, answer: Answer): void {
    this.#inbound.open(packet, peer)?.answer(answer);
  }

  /** A datagram that does not parse: a CON with a readable header gets a RST, anything else is dropped. */
  #rejectMalformed(msg: Buffer, peer: Peer): void {
    if (msg.length < 4) return;
    const first = msg[0]!;
    const version = first >> 6;
    const type = (first >> 4) & 3;
    if (version !== 1 || type !== 0) return;
    this.#opts.sender.send(emptyMessage('rst', msg.readUInt16BE(2)), peer);
  }
}
