import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { generate, type ParsedPacket } from 'coap-packet';
import {
  type BlockOption,
  blockSize,
  CoapOption,
  encodeBlock,
  encodeUint,
  optionValue,
  parseBlock,
  uintOption,
} from './coap-options.js';
import { type Peer, peerKey } from './peer.js';
import { type CoapTiming, exchangeLifetimeMs } from './timing.js';

export type CoapMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** A request to a device, before message id and token are assigned. */
export interface OutgoingRequest {
  readonly method: CoapMethod;
  readonly pathSegments: readonly string[];
  readonly query?: readonly string[];
  readonly contentFormat?: number;
  readonly accept?: number;
  readonly observe?: 0 | 1;
  readonly payload?: Buffer;
  /** Reuse a token (cancelling an observation); a fresh one otherwise. */
  readonly token?: Buffer;
}

export interface CoapResponse {
  readonly code: string;
  readonly contentFormat?: number;
  readonly observe?: number;
  readonly payload: Buffer;
  readonly token: Buffer;
}

export type ExchangeOutcome =
  | { readonly kind: 'response'; readonly response: CoapResponse }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'unreachable'; readonly reason: string };

export interface RequestOptions {
  /** Overall deadline for the whole exchange (all blocks, separate response), in ms. */
  readonly timeoutMs?: number;
}

export interface Notification extends CoapResponse {}

export interface ObservationHandle {
  readonly token: Buffer;
  /** Stops the observation; `active` also sends a GET with Observe=1 and returns its outcome. */
  cancel(opts?: { readonly active?: boolean }): Promise<ExchangeOutcome | undefined>;
  readonly closed: boolean;
}

export type ObserveOutcome = ExchangeOutcome & { readonly observation?: ObservationHandle };

const MAX_BLOCK2_BYTES = 4 * 1024 * 1024;
const BLOCK1_SZX = 6; // 1024-byte blocks
const MAX_SINGLE_PAYLOAD = 1024;
/** Devices keep message ids for their own (default 247 s) exchange lifetime; forget ours after that. */
const PEER_MID_IDLE_MS = 300_000;
const MAX_RECENT_CON = 50_000;

interface PeerMids {
  next: number;
  lastUsed: number;
}

class Exchange {
  mid = -1;
  message: Buffer = Buffer.alloc(0);
  attempts = 0;
  retransmitTimer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
  block1Offset = 0;
  block1Szx = BLOCK1_SZX;
  block2Num = -1;
  block2Szx = 6;
  block2Chunks: Buffer[] = [];
  block2Bytes = 0;
  done = false;
  constructor(
    readonly peer: Peer,
    readonly pk: string,
    readonly req: OutgoingRequest,
    readonly token: Buffer,
    readonly resolve: (outcome: ObserveOutcome) => void,
    readonly onNotify: ((n: Notification) => void) | undefined,
  ) {}
}

class Observation implements ObservationHandle {
  lastSeq = -1;
  lastTime = 0;
  closed = false;
  constructor(
    readonly owner: CoapRequester,
    readonly peer: Peer,
    readonly pk: string,
    readonly req: OutgoingRequest,
    readonly token: Buffer,
    readonly onNotify: (n: Notification) => void,
  ) {}

  cancel(opts?: { readonly active?: boolean }): Promise<ExchangeOutcome | undefined> {
    return this.owner.cancelObservation(this, opts?.active === true);
  }
}

/** RFC 7641 section 3.4: is `seq` (received at `now`) fresher than the last one? */
function isFresher(obs: Observation, seq: number, now: number): boolean {
  if (obs.lastSeq < 0) return true;
  const v1 = obs.lastSeq;
  if ((v1 < seq && seq - v1 < 2 ** 23) || (v1 > seq && v1 - seq > 2 ** 23)) return true;
  return now > obs.lastTime + 128_000;
}

function isSuccess(code: string): boolean {
  return code.startsWith('2.');
}

/**
 * Server-to-device CoAP requests on the shared socket. Replaces node-coap's Agent, whose matching keys
 * every exchange by message id alone and draws ids from one counter for all peers: here ACK/RST are
 * matched by (peer, message id), separate responses and notifications by (peer, token), and message ids
 * are counted per peer so they do not repeat to one device within its exchange lifetime.
 */
export class CoapRequester {
  readonly #socket: Socket;
  readonly #timing: CoapTiming;
  readonly #clock: () => number;
  readonly #byMid = new Map<string, Exchange>();
  readonly #byToken = new Map<string, Exchange | Observation>();
  readonly #mids = new Map<string, PeerMids>();
  readonly #recentCon = new Map<string, number>();
  readonly #pruneTimer: NodeJS.Timeout;
  #tokenCounter = randomBytes(4).readUInt32BE(0);
  #closed = false;

  constructor(socket: Socket, timing: CoapTiming, clock: () => number) {
    this.#socket = socket;
    this.#timing = timing;
    this.#clock = clock;
    this.#pruneTimer = setInterval(() => this.#prune(), 10_000);
    this.#pruneTimer.unref();
  }

  /** Number of exchanges and observations in flight (for tests and metrics). */
  get inFlight(): number {
    return this.#byToken.size;
  }

  request(peer: Peer, req: OutgoingRequest, opts?: RequestOptions): Promise<ExchangeOutcome> {
    return this.#start(peer, req, undefined, opts);
  }

  /** GET with Observe=0; when the device accepts, the outcome carries the observation handle. */
  observe(
    peer: Peer,
    req: OutgoingRequest,
    onNotify: (n: Notification) => void,
    opts?: RequestOptions,
  ): Promise<ObserveOutcome> {
    return this.#start(peer, { ...req, method: 'GET', observe: 0 }, onNotify, opts);
  }

  /** Fails every pending exchange with `unreachable` and forgets observations. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#pruneTimer);
    for (const entry of [...this.#byToken.values()]) {
      if (entry instanceof Exchange) this.#finish(entry, { kind: 'unreachable', reason: 'server stopped' });
      else entry.closed = true;
    }
    this.#byToken.clear();
    this.#byMid.clear();
  }

  async cancelObservation(obs: Observation, active: boolean): Promise<ExchangeOutcome | undefined> {
    if (obs.closed) return undefined;
    obs.closed = true;
    const key = `${obs.pk}#${obs.token.toString('hex')}`;
    if (this.#byToken.get(key) === obs) this.#byToken.delete(key);
    if (!active || this.#closed) return undefined;
    return this.#start(obs.peer, { ...obs.req, observe: 1, token: obs.token }, undefined, undefined);
  }

  /** Entry point for every datagram that is a response or an empty message. */
  handleIncoming(packet: ParsedPacket, peer: Peer): void {
    const pk = peerKey(peer);
    if (packet.code === '0.00') {
      if (!packet.ack && !packet.reset) return;
      const ex = this.#byMid.get(`${pk}#${packet.messageId}`);
      if (ex === undefined) return;
      if (packet.reset) this.#finish(ex, { kind: 'unreachable', reason: 'reset by device' });
      else this.#acknowledged(ex);
      return;
    }
    if (packet.ack) {
      const ex = this.#byMid.get(`${pk}#${packet.messageId}`);
      if (ex === undefined || !ex.token.equals(packet.token)) return;
      this.#onResponse(ex, packet);
      return;
    }
    const conKey = `${pk}#${packet.messageId}`;
    if (packet.confirmable && this.#recentCon.has(conKey)) {
      this.#sendEmpty(peer, packet.messageId, 'ack');
      return;
    }
    const target = this.#byToken.get(`${pk}#${packet.token.toString('hex')}`);
    if (target === undefined) {
      this.#sendEmpty(peer, packet.messageId, 'reset');
      return;
    }
    if (packet.confirmable) {
      this.#sendEmpty(peer, packet.messageId, 'ack');
      this.#rememberCon(conKey);
    }
    if (target instanceof Exchange) this.#onResponse(target, packet);
    else this.#onNotification(target, packet);
  }

  #start(
    peer: Peer,
    req: OutgoingRequest,
    onNotify: ((n: Notification) => void) | undefined,
    opts: RequestOptions | undefined,
  ): Promise<ObserveOutcome> {
    if (this.#closed) return Promise.resolve({ kind: 'unreachable', reason: 'server stopped' });
    const pk = peerKey(peer);
    const token = req.token ?? this.#nextToken();
    return new Promise<ObserveOutcome>((resolve) => {
      const ex = new Exchange(peer, pk, req, token, resolve, onNotify);
      const tokenKey = `${pk}#${token.toString('hex')}`;
      const previous = this.#byToken.get(tokenKey);
      if (previous instanceof Exchange) this.#finish(previous, { kind: 'unreachable', reason: 'superseded' });
      this.#byToken.set(tokenKey, ex);
      if (opts?.timeoutMs !== undefined) {
        ex.deadlineTimer = setTimeout(() => this.#finish(ex, { kind: 'timeout' }), opts.timeoutMs);
      }
      this.#transmit(ex);
    });
  }

  /** Builds the next message of the exchange (a new message id per block) and sends it. */
  #transmit(ex: Exchange): void {
    if (ex.mid >= 0) this.#byMid.delete(`${ex.pk}#${ex.mid}`);
    ex.mid = this.#nextMid(ex.pk);
    this.#byMid.set(`${ex.pk}#${ex.mid}`, ex);
    const { req } = ex;
    const options: { name: number; value: Buffer }[] = [];
    if (req.observe !== undefined) options.push({ name: CoapOption.OBSERVE, value: encodeUint(req.observe) });
    for (const seg of req.pathSegments) options.push({ name: CoapOption.URI_PATH, value: Buffer.from(seg) });
    if (req.contentFormat !== undefined) {
      options.push({ name: CoapOption.CONTENT_FORMAT, value: encodeUint(req.contentFormat) });
    }
    for (const q of req.query ?? []) options.push({ name: CoapOption.URI_QUERY, value: Buffer.from(q) });
    if (req.accept !== undefined) options.push({ name: CoapOption.ACCEPT, value: encodeUint(req.accept) });
    let payload = req.payload;
    if (ex.block2Num > 0) {
      options.push({
        name: CoapOption.BLOCK2,
        value: encodeBlock({ num: ex.block2Num, more: false, szx: ex.block2Szx }),
      });
    }
    if (payload !== undefined && payload.length > MAX_SINGLE_PAYLOAD) {
      const size = blockSize(ex.block1Szx);
      const num = Math.floor(ex.block1Offset / size);
      const chunk = payload.subarray(ex.block1Offset, ex.block1Offset + size);
      const more = ex.block1Offset + chunk.length < payload.length;
      options.push({ name: CoapOption.BLOCK1, value: encodeBlock({ num, more, szx: ex.block1Szx }) });
      if (num === 0) options.push({ name: CoapOption.SIZE1, value: encodeUint(payload.length) });
      payload = chunk;
    }
    options.sort((a, b) => a.name - b.name);
    try {
      ex.message = generate({
        code: req.method,
        confirmable: true,
        messageId: ex.mid,
        token: ex.token,
        options,
        ...(payload !== undefined && payload.length > 0 ? { payload } : {}),
      });
    } catch (err) {
      this.#finish(ex, { kind: 'unreachable', reason: `cannot encode request: ${(err as Error).message}` });
      return;
    }
    ex.attempts = 0;
    this.#send(ex);
  }

  #send(ex: Exchange): void {
    if (ex.done) return;
    const mid = ex.mid;
    this.#socket.send(ex.message, ex.peer.port, ex.peer.address, (err) => {
      if (err != null && ex.mid === mid) this.#finish(ex, { kind: 'unreachable', reason: err.message });
    });
    const t = this.#timing;
    const base = t.ackTimeoutMs * (1 + (t.ackRandomFactor - 1) * Math.random());
    const wait = base * 2 ** ex.attempts;
    ex.retransmitTimer = setTimeout(() => {
      if (ex.attempts >= t.maxRetransmit) {
        this.#finish(ex, { kind: 'timeout' });
        return;
      }
      ex.attempts++;
      this.#send(ex);
    }, wait);
  }

  #acknowledged(ex: Exchange): void {
    clearTimeout(ex.retransmitTimer);
    this.#byMid.delete(`${ex.pk}#${ex.mid}`);
    // Empty ACK: the answer comes later as a separate response matched by token.
    ex.retransmitTimer = setTimeout(
      () => this.#finish(ex, { kind: 'timeout' }),
      this.#timing.responseTimeoutMs,
    );
  }

  #onResponse(ex: Exchange, packet: ParsedPacket): void {
    if (ex.done) return;
    clearTimeout(ex.retransmitTimer);
    this.#byMid.delete(`${ex.pk}#${ex.mid}`);
    const { req } = ex;
    if (packet.code === '2.31' && req.payload !== undefined && req.payload.length > MAX_SINGLE_PAYLOAD) {
      const raw = optionValue(packet.options, CoapOption.BLOCK1);
      const ack = raw === undefined ? undefined : parseBlock(raw);
      const size = blockSize(ex.block1Szx);
      const sentEnd = Math.min(req.payload.length, ex.block1Offset + size);
      if (ack === undefined || sentEnd >= req.payload.length) {
        this.#finish(ex, { kind: 'unreachable', reason: 'invalid Block1 continue' });
        return;
      }
      ex.block1Offset = sentEnd;
      // The device may ask for smaller blocks; the offset stays a multiple of the new size.
      if (ack.szx < ex.block1Szx) ex.block1Szx = ack.szx;
      this.#transmit(ex);
      return;
    }
    const rawBlock2 = optionValue(packet.options, CoapOption.BLOCK2);
    const block2: BlockOption | undefined = rawBlock2 === undefined ? undefined : parseBlock(rawBlock2);
    if (block2 !== undefined && isSuccess(packet.code) && req.observe !== 0) {
      ex.block2Chunks.push(packet.payload);
      ex.block2Bytes += packet.payload.length;
      if (block2.more) {
        if (ex.block2Bytes > MAX_BLOCK2_BYTES) {
          this.#finish(ex, { kind: 'unreachable', reason: 'response too large' });
          return;
        }
        ex.block2Szx = block2.szx;
        ex.block2Num = block2.num + 1;
        this.#transmit(ex);
        return;
      }
    }
    const payload = ex.block2Chunks.length > 0 ? Buffer.concat(ex.block2Chunks) : packet.payload;
    const response = toResponse(packet, payload);
    if (ex.onNotify !== undefined && isSuccess(packet.code) && response.observe !== undefined) {
      const obs = new Observation(this, ex.peer, ex.pk, stripObserve(req), ex.token, ex.onNotify);
      obs.lastSeq = response.observe;
      obs.lastTime = this.#clock();
      ex.done = true;
      clearTimeout(ex.deadlineTimer);
      this.#byToken.set(`${ex.pk}#${ex.token.toString('hex')}`, obs);
      ex.resolve({ kind: 'response', response, observation: obs });
      return;
    }
    this.#finish(ex, { kind: 'response', response });
  }

  #onNotification(obs: Observation, packet: ParsedPacket): void {
    if (obs.closed) return;
    const response = toResponse(packet, packet.payload);
    const ends = !isSuccess(packet.code) || response.observe === undefined;
    if (!ends) {
      const now = this.#clock();
      if (!isFresher(obs, response.observe!, now)) return;
      obs.lastSeq = response.observe!;
      obs.lastTime = now;
    } else {
      obs.closed = true;
      this.#byToken.delete(`${obs.pk}#${obs.token.toString('hex')}`);
    }
    obs.onNotify(response);
  }

  #finish(ex: Exchange, outcome: ExchangeOutcome): void {
    if (ex.done) return;
    ex.done = true;
    clearTimeout(ex.retransmitTimer);
    clearTimeout(ex.deadlineTimer);
    const midKey = `${ex.pk}#${ex.mid}`;
    if (this.#byMid.get(midKey) === ex) this.#byMid.delete(midKey);
    const tokenKey = `${ex.pk}#${ex.token.toString('hex')}`;
    if (this.#byToken.get(tokenKey) === ex) this.#byToken.delete(tokenKey);
    ex.resolve(outcome);
  }

  #sendEmpty(peer: Peer, messageId: number, type: 'ack' | 'reset'): void {
    const buf = generate({ code: '0.00', messageId, ack: type === 'ack', reset: type === 'reset' });
    this.#socket.send(buf, peer.port, peer.address, () => {});
  }

  #rememberCon(key: string): void {
    if (this.#recentCon.size >= MAX_RECENT_CON) {
      const oldest = this.#recentCon.keys().next().value;
      if (oldest !== undefined) this.#recentCon.delete(oldest);
    }
    this.#recentCon.set(key, this.#clock() + exchangeLifetimeMs(this.#timing));
  }

  #nextMid(pk: string): number {
    const now = this.#clock();
    let state = this.#mids.get(pk);
    if (state === undefined) {
      state = { next: Math.floor(Math.random() * 0x10000), lastUsed: now };
      this.#mids.set(pk, state);
    }
    state.lastUsed = now;
    const mid = state.next;
    state.next = (state.next + 1) & 0xffff;
    return mid;
  }

  #nextToken(): Buffer {
    this.#tokenCounter = (this.#tokenCounter + 1) >>> 0;
    const buf = randomBytes(8);
    buf.writeUInt32BE(this.#tokenCounter, 0);
    return buf;
  }

  #prune(): void {
    const now = this.#clock();
    for (const [key, state] of this.#mids)
      if (now - state.lastUsed > PEER_MID_IDLE_MS) this.#mids.delete(key);
    for (const [key, expires] of this.#recentCon) if (expires < now) this.#recentCon.delete(key);
  }
}

function stripObserve(req: OutgoingRequest): OutgoingRequest {
  const { observe: _observe, token: _token, ...rest } = req;
  return rest;
}

function toResponse(packet: ParsedPacket, payload: Buffer): CoapResponse {
  const contentFormat = uintOption(packet.options, CoapOption.CONTENT_FORMAT);
  const observe = uintOption(packet.options, CoapOption.OBSERVE);
  return {
    code: packet.code,
    payload,
    token: packet.token,
    ...(contentFormat === undefined ? {} : { contentFormat }),
    ...(observe === undefined ? {} : { observe }),
  };
}
