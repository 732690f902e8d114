import type { ParsedPacket } from 'coap-packet';
import { type Peer, peerKey } from './address.js';
import { emptyMessage, encodeMessage } from './encode-message.js';
import { FixedDelayQueue } from './fixed-delay-queue.js';
import type { ResponseCache } from './response-cache.js';
import type { CoapTiming } from './timing.js';

export interface AnswerOption {
  readonly name: number;
  readonly value: Buffer;
}

export interface Answer {
  readonly code: string;
  /** Sorted by option number. */
  readonly options?: readonly AnswerOption[];
  readonly payload?: Buffer;
}

export interface InboundExchangesOptions {
  readonly send: (datagram: Buffer, peer: Peer) => void;
  /** Answers kept for duplicates. */
  readonly cache: ResponseCache;
  /** A message id for a message of ours to this peer, from the counter the requester uses too. */
  readonly nextMessageId: (peer: Peer) => number;
  readonly timing: CoapTiming;
  /**
   * How long a CON request may wait for its answer to ride on the ACK. Past it the request gets an
   * empty ACK (so the device stops retransmitting) and the answer comes as a separate CON response.
   */
  readonly piggybackMs: number;
}

type Stage = 'waiting' | 'acknowledged' | 'answered';

/** A request being served. Answer it exactly once (later answers are ignored). */
export class InboundRequest {
  stage: Stage = 'waiting';

  constructor(
    readonly packet: ParsedPacket,
    readonly peer: Peer,
    /** Peer and message id: the identity of the request for deduplication (RFC 7252 4.5). */
    readonly key: string,
    readonly exchanges: InboundExchanges,
    /** Options every answer carries, e.g. the Block1 option of a body that came in blocks. */
    readonly echo: readonly AnswerOption[] = [],
  ) {}

  answer(answer: Answer): void {
    this.exchanges.answer(this, answer);
  }
}

/** A separate CON response, retransmitted until the device acknowledges it. */
interface SeparateResponse {
  readonly datagram: Buffer;
  readonly peer: Peer;
  attempts: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Server-side CoAP exchanges (RFC 7252 4, 5.2): every request the server serves opens one here.
 * Duplicates are recognised while the answer is still being prepared, not only once it is cached:
 * a retransmitted Register must never be handled twice. Answers ride on the ACK when they come
 * within `piggybackMs`; later ones follow an empty ACK as separate CON responses, retransmitted
 * until acknowledged.
 */
export class InboundExchanges {
  readonly #o: InboundExchangesOptions;
  /** Requests not answered yet, by key. */
  readonly #open = new Map<string, InboundRequest>();
  readonly #piggyback: FixedDelayQueue<InboundRequest>;
  /** Separate responses awaiting their ACK, by peer key and message id. */
  readonly #separate = new Map<string, SeparateResponse>();

  constructor(opts: InboundExchangesOptions) {
    this.#o = opts;
    this.#piggyback = new FixedDelayQueue(opts.piggybackMs, (req) => this.#acknowledgeEmpty(req));
  }

  /** Requests being prepared, and separate responses not yet acknowledged. */
  get pending(): { readonly requests: number; readonly separateResponses: number } {
    return { requests: this.#open.size, separateResponses: this.#separate.size };
  }

  /**
   * A new request to serve, or undefined for a duplicate, which is taken care of here: answered
   * again from the cache, acknowledged again if it waits for a separate response, else dropped.
   */
  open(packet: ParsedPacket, peer: Peer, echo?: readonly AnswerOption[]): InboundRequest | undefined {
    if (this.answerDuplicate(packet, peer)) return undefined;
    const key = `${peerKey(peer)}#${packet.messageId}`;
    const req = new InboundRequest(packet, peer, key, this, echo);
    this.#open.set(key, req);
    if (packet.confirmable) this.#piggyback.add(req);
    return req;
  }

  /**
   * True when the request is a duplicate of one seen before, which is then taken care of here:
   * answered again from the cache, acknowledged again if it waits for a separate response, else dropped.
   */
  answerDuplicate(packet: ParsedPacket, peer: Peer): boolean {
    const key = `${peerKey(peer)}#${packet.messageId}`;
    const cached = this.#o.cache.peek(key);
    if (cached !== undefined) {
      if (packet.confirmable) this.#o.send(cached, peer);
      return true;
    }
    const open = this.#open.get(key);
    if (open === undefined) return false;
    if (open.stage === 'acknowledged') this.#sendEmptyAck(packet.messageId, peer);
    return true;
  }

  answer(req: InboundRequest, given: Answer): void {
    if (req.stage === 'answered') return;
    const answer = req.echo.length === 0 ? given : withOptions(given, req.echo);
    const acknowledged = req.stage === 'acknowledged';
    req.stage = 'answered';
    this.#open.delete(req.key);
    this.#piggyback.delete(req);
    const { packet, peer } = req;
    if (!packet.confirmable) {
      const datagram = encode(answer, packet.token, this.#o.nextMessageId(peer), 'non');
      this.#o.cache.set(req.key, datagram);
      this.#o.send(datagram, peer);
    } else if (!acknowledged) {
      const datagram = encode(answer, packet.token, packet.messageId, 'ack');
      this.#o.cache.set(req.key, datagram);
      this.#o.send(datagram, peer);
    } else {
      // Duplicates of the request get the empty ACK again; the response repeats on its own.
      this.#o.cache.set(req.key, emptyMessage('ack', packet.messageId));
      const messageId = this.#o.nextMessageId(peer);
      const key = `${peerKey(peer)}#${messageId}`;
      const separate: SeparateResponse = {
        datagram: encode(answer, packet.token, messageId, 'con'),
        peer,
        attempts: 0,
        timer: undefined,
      };
      this.#separate.set(key, separate);
      this.#transmit(key, separate);
    }
  }

  /** An empty ACK or RST from a peer: true when it settles one of our separate responses. */
  settle(packet: ParsedPacket, peer: Peer): boolean {
    const key = `${peerKey(peer)}#${packet.messageId}`;
    const separate = this.#separate.get(key);
    if (separate === undefined) return false;
    clearTimeout(separate.timer);
    this.#separate.delete(key);
    return true;
  }

  /** Stops retransmitting; requests still open are left unanswered. */
  close(): void {
    this.#piggyback.clear();
    for (const separate of this.#separate.values()) clearTimeout(separate.timer);
    this.#separate.clear();
    this.#open.clear();
  }

  #acknowledgeEmpty(req: InboundRequest): void {
    if (req.stage !== 'waiting') return;
    req.stage = 'acknowledged';
    this.#sendEmptyAck(req.packet.messageId, req.peer);
  }

  #sendEmptyAck(messageId: number, peer: Peer): void {
    this.#o.send(emptyMessage('ack', messageId), peer);
  }

  #transmit(key: string, separate: SeparateResponse): void {
    this.#o.send(separate.datagram, separate.peer);
    const t = this.#o.timing;
    const wait = t.ackTimeoutMs * (1 + (t.ackRandomFactor - 1) * Math.random()) * 2 ** separate.attempts;
    separate.timer = setTimeout(() => {
      if (separate.attempts >= t.maxRetransmit) {
        this.#separate.delete(key);
        return;
      }
      separate.attempts++;
      this.#transmit(key, separate);
    }, wait);
    separate.timer.unref();
  }
}

const NO_BYTES = Buffer.alloc(0);

function withOptions(answer: Answer, extra: readonly AnswerOption[]): Answer {
  const options = [...(answer.options ?? []), ...extra].sort((a, b) => a.name - b.name);
  return { ...answer, options };
}

function encode(answer: Answer, token: Buffer, messageId: number, type: 'ack' | 'con' | 'non'): Buffer {
  return encodeMessage({
    type,
    code: answer.code,
    messageId,
    token,
    options: answer.options ?? [],
    payload: answer.payload ?? NO_BYTES,
  });
}
