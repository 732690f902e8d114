import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { generate, type Packet, type ParsedPacket, parse } from 'coap-packet';

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

/** A device made of a bare UDP socket and coap-packet: every byte it sends is chosen by the test. */
export class RawDevice {
  readonly #inbox: Received[] = [];
  readonly #waiters: { match: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  #mid = Math.floor(Math.random() * 60_000);

  private constructor(
    readonly socket: Socket,
    readonly serverPort: number,
  ) {
    socket.on('message', (msg, rinfo) => {
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

  /** `host` is the local address to send from: any of 127.0.0.0/8 gives a distinct source address. */
  static async open(serverPort: number, host = '127.0.0.1'): Promise<RawDevice> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    return new RawDevice(socket, serverPort);
  }

  get port(): number {
    return this.socket.address().port;
  }

  nextMid(): number {
    this.#mid = (this.#mid + 1) & 0xffff;
    return this.#mid;
  }

  sendRaw(buf: Buffer): void {
    this.socket.send(buf, this.serverPort, '127.0.0.1');
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
    return new Promise((resolve) => this.socket.close(() => resolve()));
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
