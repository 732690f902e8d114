import { createSocket, type Socket } from 'node:dgram';
import { normaliseAddress } from '../../coap/address.js';
import {
  type CoapMessage,
  type CoapOptionValue,
  Code,
  decodeMessage,
  encodeMessage,
  MessageType,
  type MessageTypeId,
} from './coap-message.js';
import { DtlsChannel, type SimDtlsOptions } from './dtls-channel.js';

export interface PeerAddress {
  readonly address: string;
  readonly port: number;
}

/** RFC 7252 transmission parameters; shortened for tests and big fleets. */
export interface RetransmitTiming {
  readonly ackTimeoutMs: number;
  readonly ackRandomFactor: number;
  readonly maxRetransmit: number;
  /** How long to wait for a separate response after an empty ACK. */
  readonly responseTimeoutMs: number;
}

export const DEFAULT_RETRANSMIT: RetransmitTiming = {
  ackTimeoutMs: 2000,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  responseTimeoutMs: 30_000,
};

export interface OutgoingRequest {
  readonly code: number;
  readonly options: readonly CoapOptionValue[];
  readonly payload?: Buffer;
}

export interface ResponseSpec {
  readonly code: number;
  readonly options?: readonly CoapOptionValue[];
  readonly payload?: Buffer;
}

export type RequestOutcome =
  | { readonly kind: 'response'; readonly message: CoapMessage }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'closed' };

/** An incoming request; `reply` may be called once (piggybacked on the ACK of a CON). */
export type RequestHandler = (
  request: CoapMessage,
  from: PeerAddress,
  reply: (r: ResponseSpec) => void,
) => void;

interface Pending {
  readonly token: Buffer;
  readonly messageId: number;
  readonly datagram: Buffer;
  readonly peer: PeerAddress;
  readonly expectsResponse: boolean;
  attempt: number;
  timer: NodeJS.Timeout | undefined;
  acked: boolean;
  resolve(outcome: RequestOutcome): void;
}

const DEDUP_ENTRIES = 8;

/**
 * One UDP socket speaking just enough CoAP for a simulated device: CON retransmission with
 * exponential back-off, piggybacked and separate responses, duplicate detection of incoming CONs
 * (last few answers replayed), RST for pings. Kept small: thousands of these live in one process.
 */
export class UdpEndpoint {
  #socket: Socket | undefined;
  #messageId = Math.floor(Math.random() * 0x10000);
  #tokenCounter = Math.floor(Math.random() * 0x100000000);
  #pending: Pending[] = [];
  #recent: { key: string; datagram: Buffer }[] = [];
  #port = 0;
  #deaf = false;
  readonly #dtls: { readonly channel: DtlsChannel; readonly server: PeerAddress } | undefined;

  constructor(
    private readonly family: 'udp4' | 'udp6',
    private readonly onRequest: RequestHandler,
    private readonly timing: RetransmitTiming = DEFAULT_RETRANSMIT,
    /** CoAP over DTLS to this server only (datagrams to anyone else are dropped). */
    dtls?: SimDtlsOptions & { readonly server: PeerAddress },
  ) {
    if (dtls !== undefined) {
      const server = dtls.server;
      const channel = new DtlsChannel(
        dtls,
        (datagram) => this.#socket?.send(datagram, server.port, server.address),
        (plain) => this.#receive(plain, server),
      );
      this.#dtls = { channel, server };
    }
  }

  /** When true, every incoming datagram is ignored (a sleeping or offline device); over DTLS the
   * connection is dropped too, and the next datagram resumes the session. */
  get deaf(): boolean {
    return this.#deaf;
  }

  set deaf(value: boolean) {
    if (value && !this.#deaf) this.#dtls?.channel.suspend();
    this.#deaf = value;
  }

  get port(): number {
    return this.#port;
  }

  get isOpen(): boolean {
    return this.#socket !== undefined;
  }

  open(bindAddress?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: this.family });
      socket.once('error', reject);
      socket.on('message', (data, rinfo) => {
        const from = { address: rinfo.address, port: rinfo.port };
        if (this.#dtls === undefined) this.#receive(data, from);
        else if (!this.#deaf && this.#samePeer(from, this.#dtls.server)) this.#dtls.channel.receive(data);
      });
      socket.bind(0, bindAddress, () => {
        socket.off('error', reject);
        socket.on('error', () => {});
        this.#socket = socket;
        this.#port = socket.address().port;
        resolve(this.#port);
      });
    });
  }

  /** Closes the socket; pending requests resolve as `closed`. */
  close(): Promise<void> {
    this.#dtls?.channel.close();
    const socket = this.#socket;
    this.#socket = undefined;
    for (const p of this.#pending.splice(0)) {
      clearTimeout(p.timer);
      p.resolve({ kind: 'closed' });
    }
    if (socket === undefined) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }

  nextToken(): Buffer {
    this.#tokenCounter = (this.#tokenCounter + 1) >>> 0;
    const t = Buffer.alloc(4);
    t.writeUInt32BE(this.#tokenCounter);
    return t;
  }

  #nextMessageId(): number {
    this.#messageId = (this.#messageId + 1) & 0xffff;
    return this.#messageId;
  }

  /** Sends a CON request and waits for its response (piggybacked or separate). */
  request(peer: PeerAddress, req: OutgoingRequest): Promise<RequestOutcome> {
    return this.#sendConfirmable(peer, req.code, this.nextToken(), req.options, req.payload, true);
  }

  /**
   * Sends a message that answers nothing (a notification). CON: resolves on ACK (`response` with
   * the empty ACK), RST or timeout. NON: resolves at once.
   */
  send(
    peer: PeerAddress,
    type: typeof MessageType.CON | typeof MessageType.NON,
    m: { code: number; token: Buffer; options: readonly CoapOptionValue[]; payload?: Buffer },
  ): Promise<RequestOutcome> {
    if (type === MessageType.CON)
      return this.#sendConfirmable(peer, m.code, m.token, m.options, m.payload, false);
    this.#write(
      encodeMessage({
        type: MessageType.NON,
        code: m.code,
        messageId: this.#nextMessageId(),
        token: m.token,
        options: m.options,
        payload: m.payload ?? Buffer.alloc(0),
      }),
      peer,
    );
    return Promise.resolve({ kind: 'timeout' });
  }

  #sendConfirmable(
    peer: PeerAddress,
    code: number,
    token: Buffer,
    options: readonly CoapOptionValue[],
    payload: Buffer | undefined,
    expectsResponse: boolean,
  ): Promise<RequestOutcome> {
    if (this.#socket === undefined) return Promise.resolve({ kind: 'closed' });
    const messageId = this.#nextMessageId();
    const datagram = encodeMessage({
      type: MessageType.CON,
      code,
      messageId,
      token,
      options,
      payload: payload ?? Buffer.alloc(0),
    });
    return new Promise((resolve) => {
      const pending: Pending = {
        token,
        messageId,
        datagram,
        peer,
        expectsResponse,
        attempt: 0,
        timer: undefined,
        acked: false,
        resolve: (outcome) => {
          clearTimeout(pending.timer);
          const i = this.#pending.indexOf(pending);
          if (i >= 0) this.#pending.splice(i, 1);
          resolve(outcome);
        },
      };
      this.#pending.push(pending);
      this.#write(datagram, peer);
      this.#armRetransmit(
        pending,
        this.timing.ackTimeoutMs * (1 + Math.random() * (this.timing.ackRandomFactor - 1)),
      );
    });
  }

  #armRetransmit(p: Pending, delayMs: number): void {
    p.timer = setTimeout(() => {
      if (p.acked) return;
      if (p.attempt >= this.timing.maxRetransmit) {
        // The server may have lost our session (restart, idle sweep): the next datagram handshakes.
        this.#dtls?.channel.suspend();
        p.resolve({ kind: 'timeout' });
        return;
      }
      p.attempt++;
      this.#write(p.datagram, p.peer);
      this.#armRetransmit(p, delayMs * 2);
    }, delayMs);
  }

  #write(datagram: Buffer, peer: PeerAddress): void {
    if (this.#socket === undefined) return;
    if (this.#dtls === undefined) this.#socket.send(datagram, peer.port, peer.address);
    else if (this.#samePeer(peer, this.#dtls.server)) this.#dtls.channel.write(datagram);
  }

  #receive(data: Buffer, from: PeerAddress): void {
    if (this.#deaf) return;
    const m = decodeMessage(data);
    if (m === undefined) return;
    if (m.type === MessageType.ACK || m.type === MessageType.RST) {
      this.#onAckOrReset(m, from);
      return;
    }
    if (m.code === Code.EMPTY) {
      if (m.type === MessageType.CON) this.#answerEmpty(MessageType.RST, m.messageId, from);
      return;
    }
    if (m.code >= 64) {
      this.#onSeparateResponse(m, from);
      return;
    }
    this.#onIncomingRequest(m, from);
  }

  #samePeer(a: PeerAddress, b: PeerAddress): boolean {
    return a.port === b.port && normaliseAddress(a.address) === normaliseAddress(b.address);
  }

  #onAckOrReset(m: CoapMessage, from: PeerAddress): void {
    const p = this.#pending.find((x) => x.messageId === m.messageId && this.#samePeer(x.peer, from));
    if (p === undefined) return;
    if (m.type === MessageType.RST) {
      p.resolve({ kind: 'reset' });
      return;
    }
    if (m.code !== Code.EMPTY && p.token.equals(m.token)) {
      p.resolve({ kind: 'response', message: m });
      return;
    }
    if (!p.expectsResponse) {
      p.resolve({ kind: 'response', message: m });
      return;
    }
    // Empty ACK: the response will come separately.
    p.acked = true;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => p.resolve({ kind: 'timeout' }), this.timing.responseTimeoutMs);
  }

  #onSeparateResponse(m: CoapMessage, from: PeerAddress): void {
    if (m.type === MessageType.CON) this.#answerEmpty(MessageType.ACK, m.messageId, from);
    const p = this.#pending.find(
      (x) => x.expectsResponse && x.token.equals(m.token) && this.#samePeer(x.peer, from),
    );
    p?.resolve({ kind: 'response', message: m });
  }

  #answerEmpty(type: MessageTypeId, messageId: number, to: PeerAddress): void {
    this.#write(
      encodeMessage({
        type,
        code: Code.EMPTY,
        messageId,
        token: Buffer.alloc(0),
        options: [],
        payload: Buffer.alloc(0),
      }),
      to,
    );
  }

  #onIncomingRequest(m: CoapMessage, from: PeerAddress): void {
    const key = `${from.address}|${from.port}|${m.messageId}`;
    const seen = this.#recent.find((r) => r.key === key);
    if (seen !== undefined) {
      if (seen.datagram.length > 0) this.#write(seen.datagram, from);
      return;
    }
    const entry: { key: string; datagram: Buffer } = { key, datagram: Buffer.alloc(0) };
    this.#recent.push(entry);
    if (this.#recent.length > DEDUP_ENTRIES) this.#recent.shift();
    let replied = false;
    const reply = (r: ResponseSpec) => {
      if (replied) return;
      replied = true;
      const datagram = encodeMessage({
        type: m.type === MessageType.CON ? MessageType.ACK : MessageType.NON,
        code: r.code,
        messageId: m.type === MessageType.CON ? m.messageId : this.#nextMessageId(),
        token: m.token,
        options: r.options ?? [],
        payload: r.payload ?? Buffer.alloc(0),
      });
      entry.datagram = datagram;
      this.#write(datagram, from);
    };
    try {
      this.onRequest(m, from, reply);
    } catch {
      reply({ code: Code.INTERNAL_SERVER_ERROR });
    }
  }
}
