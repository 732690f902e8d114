import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { ContentType, DTLS_1_2, ExtensionType, HandshakeType } from '../../../controller/dtls/constants.js';
import {
  encodeHandshake,
  fragmentHandshake,
  parseHandshakeFragments,
} from '../../../controller/dtls/handshake-codec.js';
import { encodeRecord, parseRecords } from '../../../controller/dtls/record-codec.js';

export interface HelloFields {
  readonly random?: Buffer;
  readonly cookie?: Buffer;
  readonly sessionId?: Buffer;
  readonly suites?: readonly number[];
  readonly messageSeq?: number;
  readonly recordSeq?: number;
  /** Bytes of a padding extension (RFC 7685), to make the ClientHello larger. */
  readonly padding?: number;
}

/** A ClientHello datagram as a DTLS 1.2 PSK client sends it (offering the extended master secret). */
export function clientHello(fields: HelloFields = {}): Buffer {
  const suites = fields.suites ?? [0xc0a8];
  const sessionId = fields.sessionId ?? Buffer.alloc(0);
  const cookie = fields.cookie ?? Buffer.alloc(0);
  const suiteBytes = Buffer.alloc(2 + 2 * suites.length);
  suiteBytes.writeUInt16BE(2 * suites.length, 0);
  suites.forEach((s, i) => {
    suiteBytes.writeUInt16BE(s, 2 + 2 * i);
  });
  const ems = Buffer.alloc(4);
  ems.writeUInt16BE(ExtensionType.extendedMasterSecret, 0);
  const extensions =
    fields.padding === undefined ? ems : Buffer.concat([ems, paddingExtension(fields.padding)]);
  const body = Buffer.concat([
    Buffer.from([0xfe, 0xfd]),
    fields.random ?? randomBytes(32),
    Buffer.from([sessionId.length]),
    sessionId,
    Buffer.from([cookie.length]),
    cookie,
    suiteBytes,
    Buffer.from([1, 0]),
    Buffer.from([extensions.length >> 8, extensions.length & 0xff]),
    extensions,
  ]);
  return encodeRecord({
    type: ContentType.handshake,
    version: DTLS_1_2,
    epoch: 0,
    seq: fields.recordSeq ?? 0,
    fragment: encodeHandshake(HandshakeType.clientHello, fields.messageSeq ?? 0, body),
  });
}

function paddingExtension(length: number): Buffer {
  const out = Buffer.alloc(4 + length);
  out.writeUInt16BE(21, 0);
  out.writeUInt16BE(length, 2);
  return out;
}

/**
 * The ClientHello of a `clientHello` datagram split into fragments of at most `size` bytes, one
 * record and datagram each, with record sequence numbers from the ClientHello's on.
 */
export function helloFragments(datagram: Buffer, size: number): Buffer[] {
  const [record] = parseRecords(datagram);
  if (record === undefined) throw new Error('no record');
  return fragmentHandshake(record.fragment, size).map((fragment, i) =>
    encodeRecord({ ...record, seq: record.seq + i, fragment }),
  );
}

/** The cookie of a HelloVerifyRequest datagram, or undefined when it is something else. */
export function cookieOf(datagram: Buffer): Buffer | undefined {
  const [record] = parseRecords(datagram);
  if (record?.type !== ContentType.handshake) return undefined;
  const [fragment] = parseHandshakeFragments(record.fragment) ?? [];
  if (fragment?.msgType !== HandshakeType.helloVerifyRequest) return undefined;
  return Buffer.from(fragment.body.subarray(3, 3 + fragment.body[2]!));
}

/** A UDP socket on a loopback address of its own choosing that queues what it receives. */
export class RawPeer {
  readonly #queue: Buffer[] = [];
  readonly #waiting: ((datagram: Buffer) => void)[] = [];
  received = 0;

  private constructor(
    readonly socket: Socket,
    readonly serverPort: number,
  ) {
    socket.on('message', (datagram) => {
      this.received++;
      const waiter = this.#waiting.shift();
      if (waiter) waiter(datagram);
      else this.#queue.push(datagram);
    });
  }

  static async open(serverPort: number, address = '127.0.0.1'): Promise<RawPeer> {
    const socket = createSocket('udp4');
    socket.bind(0, address);
    await once(socket, 'listening');
    return new RawPeer(socket, serverPort);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(datagram: Buffer): void {
    this.socket.send(datagram, this.serverPort, '127.0.0.1');
  }

  /** The next datagram received (queued ones first). */
  next(): Promise<Buffer> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Sends a ClientHello, takes the cookie from the answer and sends it again: the server now has a handshake. */
  async handshakeWithCookie(fields: HelloFields = {}): Promise<Buffer> {
    const random = fields.random ?? randomBytes(32);
    this.send(clientHello({ ...fields, random }));
    const cookie = cookieOf(await this.next());
    if (cookie === undefined) throw new Error('no HelloVerifyRequest');
    const second = clientHello({ ...fields, random, cookie, messageSeq: 1, recordSeq: 1 });
    this.send(second);
    return second;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
