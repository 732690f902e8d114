import type { AddressInfo } from 'node:net';
import { type IncomingMessage, type OutgoingMessage, parameters, Server } from 'coap';
import { generate, type ParsedPacket, parse } from 'coap-packet';
import type { Peer } from '../../coap/address.js';
import { type Block1Limits, Block1Transfers } from '../../coap/block1-transfers.js';
import { type Answer, InboundExchanges, type InboundRequest } from '../../coap/inbound-exchanges.js';
import { CoapOption, hasUnknownCriticalOption, optionValue } from '../../coap/options.js';
import { ResponseCache } from '../../coap/response-cache.js';
import { type CoapTiming, exchangeLifetimeMs } from '../../coap/timing.js';
import { encodeUint } from '../../coap/uint.js';

export type CoapRequestHandler = (req: IncomingMessage, res: OutgoingMessage) => void;

export interface GuardedServerOptions {
  /** Called for every response and empty ACK/RST (the downlink side of the shared socket). */
  readonly onResponse: (packet: ParsedPacket, peer: Peer) => void;
  /** Called for every acceptable request; exceptions are caught and answered 5.00 to the right peer. */
  readonly onRequest: CoapRequestHandler;
  /** Upper bound of the response (deduplication) cache, in entries. */
  readonly maxCachedResponses: number;
  /** Largest request body accepted, also through Block1. */
  readonly maxBodyBytes: number;
  /** Bounds of block-wise (Block1) request bodies being received; `maxBodyBytes` is the body bound. */
  readonly block1?: Partial<Omit<Block1Limits, 'maxBodyBytes'>>;
  /** Epoch ms, for expiring unfinished block-wise transfers. */
  readonly now?: () => number;
  readonly onError: (message: string, err: unknown) => void;
  /**
   * Requests served here, without node-coap's request and response streams: `accepts` picks them
   * from the parsed datagram (single-datagram requests only), `serve` answers each exactly once.
   */
  readonly direct?: {
    readonly accepts: (packet: ParsedPacket) => boolean;
    readonly serve: (req: InboundRequest) => void;
  };
  /** Retransmission of separate responses; `piggybackMs` for directly served requests. */
  readonly timing: CoapTiming;
  /** Message ids for our separate responses, from the counter the downlink requester uses. */
  readonly nextMessageId: (peer: Peer) => number;
}

type PacketOptions = ParsedPacket['options'];

/** node-coap rewrites option values in place (Content-Format becomes a media type name); keep the wire form. */
const wireOptions = new WeakMap<object, PacketOptions>();

/** The options of a request as they were on the wire. */
export function requestOptions(req: IncomingMessage): PacketOptions {
  return wireOptions.get(req._packet) ?? [];
}

const SERVED_METHODS = new Set(['0.01', '0.02', '0.03', '0.04']);

/**
 * node-coap's Server with its failure modes closed at the root: one parse per datagram, responses and
 * empty messages routed to the downlink requester, pings and unknown methods answered here, every error
 * answered to the peer that caused it (the library's own error path drops the address), and a compact
 * response cache bounded by entries rather than wire bytes.
 */
export class GuardedCoapServer extends Server {
  readonly #opts: GuardedServerOptions;
  readonly #cache: ResponseCache;
  readonly #purge: NodeJS.Timeout;
  readonly #inbound: InboundExchanges;
  /** Block-wise bodies are reassembled here, bounded; node-coap's own Block1 cache is never reached. */
  readonly #blocks: Block1Transfers;

  constructor(opts: GuardedServerOptions) {
    super({ piggybackReplyMs: 50, sendAcksForNonConfirmablePackets: true });
    this.#opts = opts;
    // node-coap's cache bounds wire bytes while each entry holds kilobytes of heap (the response
    // stream, its request, the retry sender) for the whole exchange lifetime; keep only the bytes.
    this.#cache = new ResponseCache({
      maxEntries: opts.maxCachedResponses,
      ttlMs: parameters.exchangeLifetime * 1000,
    });
    this._lru = this.#cache as unknown as typeof this._lru;
    this.#inbound = new InboundExchanges({
      send: (datagram, peer) => this.#sendRaw(peer, datagram),
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
    this.on('request', (req: IncomingMessage, res: OutgoingMessage) => this.#serve(req, res));
    this.on('error', (err: unknown) => opts.onError('coap server error', err));
  }

  override close(done?: (err?: Error) => void): this {
    clearInterval(this.#purge);
    this.#inbound.close();
    this.#blocks.clear();
    return super.close(done);
  }

  /** Unfinished block-wise request bodies and the bytes held for them. */
  get block1Usage(): Block1Transfers['usage'] {
    return this.#blocks.usage;
  }

  override handleRequest(): (msg: Buffer, rsinfo: AddressInfo) => void {
    return (msg, rsinfo) => this.#dispatch(msg, rsinfo);
  }

  /**
   * node-coap's key of the response cache, joined rather than concatenated: a concatenation is a
   * chain of cons strings (~180 B per cached answer), a join one flat string.
   */
  override _toKey(request: IncomingMessage, packet: ParsedPacket, appendToken: boolean): string {
    const { address, port } = request.rsinfo;
    const mid = packet.messageId == null ? '' : `/${packet.messageId}`;
    const token = appendToken && packet.token != null ? packet.token.toString('hex') : '';
    return [address, ':', port, mid, token].join('');
  }

  override _sendError(payload: Buffer, rsinfo: AddressInfo, packet?: ParsedPacket, code = '5.00'): void {
    if (packet === undefined) return;
    this.#answer(rsinfo, packet, code, payload);
  }

  #dispatch(msg: Buffer, rsinfo: AddressInfo): void {
    let packet: ParsedPacket;
    try {
      packet = parse(msg);
    } catch {
      this.#rejectMalformed(msg, rsinfo);
      return;
    }
    try {
      if (packet.code === '0.00') {
        if (packet.ack || packet.reset) {
          if (this.#inbound.settle(packet, rsinfo)) return;
          this.#opts.onResponse(packet, rsinfo);
          // Also cancels retransmission of a CON response this server sent.
          this._handle(packet, rsinfo);
        } else if (packet.confirmable) {
          this.#sendRaw(rsinfo, generate({ code: '0.00', messageId: packet.messageId, reset: true }));
        }
        return;
      }
      if (!packet.code.startsWith('0.')) {
        this.#opts.onResponse(packet, rsinfo);
        return;
      }
      if (packet.ack || packet.reset) return;
      if (!SERVED_METHODS.has(packet.code)) {
        this.#answer(rsinfo, packet, '4.05');
        return;
      }
      if (hasUnknownCriticalOption(packet.options)) {
        this.#answer(rsinfo, packet, '4.02');
        return;
      }
      if (packet.code !== '0.01') {
        packet.options = packet.options.filter((o) => o.name !== 'Observe');
      }
      const block1 = optionValue(packet.options, CoapOption.BLOCK1);
      if (block1 !== undefined) {
        this.#receiveBlock(packet, rsinfo, block1);
        return;
      }
      if (packet.payload.length > this.#opts.maxBodyBytes) {
        this.#answer(rsinfo, packet, '4.13', undefined, [
          { name: CoapOption.SIZE1, value: encodeUint(this.#opts.maxBodyBytes) },
        ]);
        return;
      }
      if (this.#opts.direct?.accepts(packet)) {
        const req = this.#inbound.open(packet, rsinfo);
        if (req !== undefined) this.#serveDirect(req);
        return;
      }
      wireOptions.set(
        packet,
        packet.options.map((o) => ({ name: o.name, value: o.value })),
      );
      this._handle(packet, rsinfo);
    } catch (err) {
      this.#opts.onError('failed to handle datagram', err);
      if (packet.code.startsWith('0.') && packet.code !== '0.00') this.#answer(rsinfo, packet, '5.00');
    }
  }

  /**
   * One block of a block-wise request body. Intermediate blocks are answered here (2.31, or the
   * refusal); the whole body goes on as one request without the Block1 option: served directly with
   * the final Block1 echoed in its answer, or handed to node-coap (which then has no block to cache).
   */
  #receiveBlock(packet: ParsedPacket, rsinfo: AddressInfo, raw: Buffer): void {
    if (this.#inbound.answerDuplicate(packet, rsinfo)) return;
    const outcome = this.#blocks.receive(packet, rsinfo, raw);
    if (outcome.kind === 'complete') {
      const whole = outcome.request;
      if (this.#opts.direct?.accepts(whole)) {
        const req = this.#inbound.open(whole, rsinfo, [outcome.echo]);
        if (req !== undefined) this.#serveDirect(req);
        return;
      }
      wireOptions.set(
        whole,
        whole.options.map((o) => ({ name: o.name, value: o.value })),
      );
      this._handle(whole, rsinfo);
      return;
    }
    const req = this.#inbound.open(packet, rsinfo);
    if (req === undefined) return;
    req.answer(outcome.answer satisfies Answer);
  }

  #serve(req: IncomingMessage, res: OutgoingMessage): void {
    // A failed send of a CON response emits 'error' on the response; unhandled, it would crash.
    res.on('error', (err: unknown) => this.#opts.onError('response failed', err));
    try {
      this.#opts.onRequest(req, res);
    } catch (err) {
      this.#opts.onError('request handler threw', err);
      if (!res.writableEnded) {
        res.code = '5.00';
        res.end();
      }
    }
  }

  #serveDirect(req: InboundRequest): void {
    try {
      this.#opts.direct?.serve(req);
    } catch (err) {
      this.#opts.onError('request handler threw', err);
      req.answer({ code: '5.00' });
    }
  }

  /** A datagram that does not parse: a CON with a readable header gets a RST, anything else is dropped. */
  #rejectMalformed(msg: Buffer, rsinfo: AddressInfo): void {
    if (msg.length < 4) return;
    const first = msg[0]!;
    const version = first >> 6;
    const type = (first >> 4) & 3;
    if (version !== 1 || type !== 0) return;
    this.#sendRaw(rsinfo, generate({ code: '0.00', messageId: msg.readUInt16BE(2), reset: true }));
  }

  #answer(
    rsinfo: AddressInfo,
    request: ParsedPacket,
    code: string,
    payload?: Buffer,
    options: ParsedPacket['options'] = [],
  ): void {
    const con = request.confirmable;
    try {
      const buf = generate({
        code,
        messageId: con ? request.messageId : Math.floor(Math.random() * 0x10000),
        token: request.token,
        ack: con,
        confirmable: false,
        options,
        ...(payload !== undefined && payload.length > 0 ? { payload } : {}),
      });
      this.#sendRaw(rsinfo, buf);
    } catch (err) {
      this.#opts.onError('cannot encode error answer', err);
    }
  }

  #sendRaw(rsinfo: AddressInfo | Peer, buf: Buffer): void {
    const sock = this._sock as import('node:dgram').Socket | null;
    sock?.send(buf, rsinfo.port, rsinfo.address, () => {});
  }
}
