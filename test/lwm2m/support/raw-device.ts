import { createSocket, type RemoteInfo } from 'node:dgram';
import type { EventEmitter } from 'node:events';
import { generate, type Packet, type ParsedPacket, parse } from 'coap-packet';
import { dtls } from 'node-dtls-client';

export interface Received {
  readonly packet: ParsedPacket;
  readonly rinfo: RemoteInfo;
}

const optionNumbers: Record<string, number> = {
  Observe: 6,
  'Location-Path': 8,
  'Uri-Path': 11,
  'Content-Format': 12,
  'Uri-Query': 15,
  Accept: 17,
  Block2: 23,
  Block1: 27,
};

export function option(packet: ParsedPacket, name: string): Buffer[] {
  return packet.options.filter((o) => o.name === name || o.name === optionNumbers[name]).map((o) => o.value);
}

export function uint(buf: Buffer | undefined): number | undefined {
  if (buf === undefined) return undefined;
  let n = 0;
  for (const b of buf) n = n * 256 + b;
  return n;
}

export function uintBuf(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0) {
    out.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  return Buffer.from(out);
}

/** How a raw device's datagrams travel: a bare UDP socket, or a DTLS session (node-dtls-client). */
interface DevicePipe {
  /** Emits 'message' (datagram, rinfo). */
  readonly events: EventEmitter;
  send(datagram: Buffer): void;
  localPort(): number;
  close(): Promise<void>;
}

/** PSK credentials of a DTLS raw device; node-dtls-client takes keys as ASCII text. */
export interface DevicePsk {
  readonly identity: string;
  readonly key: string;
}

/**
 * A device made of coap-packet over a bare UDP socket or a DTLS session of node-dtls-client 1.1.1
 * (an implementation that is not ours): every CoAP byte it sends is chosen by the test.
 */
export class RawDevice {
  readonly #inbox: Received[] = [];
  readonly #waiters: { match: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  #mid = Math.floor(Math.random() * 60_000);

  private constructor(
    readonly pipe: DevicePipe,
    readonly serverPort: number,
  ) {
    pipe.events.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      let packet: ParsedPacket;
      try {
        packet = parse(msg);
      } catch {
        return;
      }
      const r = { packet, rinfo };
      const i = this.#waiters.findIndex((w) => w.match(r));
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(r);
      else this.#inbox.push(r);
    });
  }

  /** Bound to 127.0.0.1 on a free port unless `local` names another loopback address or port. */
  static async open(
    serverPort: number,
    local: { readonly address?: string; readonly port?: number } = {},
  ): Promise<RawDevice> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(local.port ?? 0, local.address ?? '127.0.0.1', resolve));
    const pipe: DevicePipe = {
      events: socket,
      send: (datagram) => socket.send(datagram, serverPort, '127.0.0.1'),
      localPort: () => socket.address().port,
      close: () => new Promise((resolve) => socket.close(() => resolve())),
    };
    return new RawDevice(pipe, serverPort);
  }

  /**
   * A device over DTLS with a pre-shared key, once its handshake with the server on 127.0.0.1 is
   * done; the handshake's failure (an alert, a timeout) is thrown as node-dtls-client reports it.
   */
  static async openDtls(serverPort: number, psk: DevicePsk): Promise<RawDevice> {
    const socket = dtls.createSocket({
      type: 'udp4',
      address: '127.0.0.1',
      port: serverPort,
      psk: { [psk.identity]: psk.key },
      timeout: 10_000,
      ciphers: ['TLS_PSK_WITH_AES_128_CCM_8'],
    });
    let closed = false;
    const close = () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        try {
          socket.close(() => resolve());
        } catch {
          resolve();
        }
      });
    await new Promise<void>((resolve, reject) => {
      socket.once('connected', () => resolve());
      socket.once('error', (err: Error) => {
        closed = true;
        reject(err);
      });
    });
    const pipe: DevicePipe = {
      events: socket,
      send: (datagram) => socket.send(datagram),
      localPort: () => {
        throw new Error('node-dtls-client does not tell its local port');
      },
      close,
    };
    return new RawDevice(pipe, serverPort);
  }

  get port(): number {
    return this.pipe.localPort();
  }

  nextMid(): number {
    this.#mid = (this.#mid + 1) & 0xffff;
    return this.#mid;
  }

  sendRaw(buf: Buffer): void {
    this.pipe.send(buf);
  }

  send(packet: Packet): number {
    const messageId = packet.messageId ?? this.nextMid();
    this.sendRaw(generate({ ...packet, messageId }));
    return messageId;
  }

  /** The next datagram matching `match` (already received or still to come). */
  next(match: (r: Received) => boolean = () => true): Promise<Received> {
    const i = this.#inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.#inbox.splice(i, 1)[0]!);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  /** A request from the server (code 0.0x, not empty). */
  nextRequest(): Promise<Received> {
    return this.next((r) => r.packet.code.startsWith('0.') && r.packet.code !== '0.00');
  }

  /** Sends a CON request and waits for the piggybacked (or separate) answer. */
  async request(packet: Packet): Promise<ParsedPacket> {
    const token = packet.token ?? Buffer.from([this.#mid & 0xff, 0x42, 0x17]);
    const mid = this.send({ confirmable: true, ...packet, token });
    const answer = await this.next(
      (r) => (r.packet.ack && r.packet.messageId === mid) || (r.packet.token.equals(token) && !r.packet.ack),
    );
    return answer.packet;
  }

  async register(
    query: string[],
    links = '</1/0>,</3/0>,</5/0>',
    contentFormat?: number,
  ): Promise<ParsedPacket> {
    return this.request({
      code: 'POST',
      options: [
        { name: 'Uri-Path', value: Buffer.from('rd') },
        ...(contentFormat === undefined
          ? []
          : [{ name: 'Content-Format' as const, value: uintBuf(contentFormat) }]),
        ...query.map((q) => ({ name: 'Uri-Query' as const, value: Buffer.from(q) })),
      ],
      payload: Buffer.from(links),
    });
  }

  async update(id: string, query: string[] = [], links?: string): Promise<ParsedPacket> {
    return this.request({
      code: 'POST',
      options: [
        { name: 'Uri-Path', value: Buffer.from('rd') },
        { name: 'Uri-Path', value: Buffer.from(id) },
        ...query.map((q) => ({ name: 'Uri-Query' as const, value: Buffer.from(q) })),
      ],
      ...(links === undefined ? {} : { payload: Buffer.from(links) }),
    });
  }

  async deregister(id: string): Promise<ParsedPacket> {
    return this.request({
      code: 'DELETE',
      options: [
        { name: 'Uri-Path', value: Buffer.from('rd') },
        { name: 'Uri-Path', value: Buffer.from(id) },
      ],
    });
  }

  /** Answers a server request with a piggybacked ACK. */
  answer(
    req: Received,
    code: string,
    payload?: Buffer,
    contentFormat?: number,
    extra: Packet['options'] = [],
  ): void {
    this.send({
      messageId: req.packet.messageId,
      ack: true,
      code,
      token: req.packet.token,
      options: [
        ...extra,
        ...(contentFormat === undefined
          ? []
          : [{ name: 'Content-Format' as const, value: uintBuf(contentFormat) }]),
      ],
      ...(payload === undefined ? {} : { payload }),
    });
  }

  close(): Promise<void> {
    return this.pipe.close();
  }
}

export function locationOf(packet: ParsedPacket): string[] {
  return option(packet, 'Location-Path').map((b) => b.toString());
}

export function pathOf(packet: ParsedPacket): string {
  return `/${option(packet, 'Uri-Path')
    .map((b) => b.toString())
    .join('/')}`;
}
