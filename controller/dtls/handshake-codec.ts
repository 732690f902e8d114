import { ByteReader, DecodeError } from './byte-reader.js';
import { DTLS_1_2, HandshakeType } from './constants.js';

/** One handshake message or fragment of one (RFC 6347 4.2.2). */
export interface HandshakeFragment {
  readonly msgType: number;
  /** Length of the whole message. */
  readonly length: number;
  readonly messageSeq: number;
  readonly fragmentOffset: number;
  readonly body: Buffer;
}

export const HANDSHAKE_HEADER_LENGTH = 12;

/** The handshake fragments of one record's plaintext; undefined when it does not parse. */
export function parseHandshakeFragments(plaintext: Buffer): HandshakeFragment[] | undefined {
  const out: HandshakeFragment[] = [];
  let offset = 0;
  while (offset < plaintext.length) {
    if (plaintext.length - offset < HANDSHAKE_HEADER_LENGTH) return undefined;
    const msgType = plaintext[offset]!;
    const length = plaintext.readUIntBE(offset + 1, 3);
    const messageSeq = plaintext.readUInt16BE(offset + 4);
    const fragmentOffset = plaintext.readUIntBE(offset + 6, 3);
    const fragmentLength = plaintext.readUIntBE(offset + 9, 3);
    const start = offset + HANDSHAKE_HEADER_LENGTH;
    if (start + fragmentLength > plaintext.length || fragmentOffset + fragmentLength > length)
      return undefined;
    out.push({
      msgType,
      length,
      messageSeq,
      fragmentOffset,
      body: plaintext.subarray(start, start + fragmentLength),
    });
    offset = start + fragmentLength;
  }
  return out;
}

/** A whole message with its DTLS header as one fragment: the form that is sent and hashed. */
export function encodeHandshake(msgType: number, messageSeq: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HANDSHAKE_HEADER_LENGTH + body.length);
  out[0] = msgType;
  out.writeUIntBE(body.length, 1, 3);
  out.writeUInt16BE(messageSeq, 4);
  out.writeUIntBE(0, 6, 3);
  out.writeUIntBE(body.length, 9, 3);
  body.copy(out, HANDSHAKE_HEADER_LENGTH);
  return out;
}

/** Splits an encoded message (from `encodeHandshake`) into fragments of at most `maxBody` bytes each. */
export function fragmentHandshake(message: Buffer, maxBody: number): Buffer[] {
  const body = message.subarray(HANDSHAKE_HEADER_LENGTH);
  if (body.length <= maxBody) return [message];
  const step = Math.max(1, maxBody);
  const out: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += step) {
    const part = body.subarray(offset, offset + step);
    const fragment = Buffer.allocUnsafe(HANDSHAKE_HEADER_LENGTH + part.length);
    message.copy(fragment, 0, 0, 6);
    fragment.writeUIntBE(offset, 6, 3);
    fragment.writeUIntBE(part.length, 9, 3);
    part.copy(fragment, HANDSHAKE_HEADER_LENGTH);
    out.push(fragment);
  }
  return out;
}

export interface Extension {
  readonly type: number;
  readonly data: Buffer;
}

/**
 * The fields of a ClientHello up to and including its cookie: what its first fragment shows of it,
 * enough to answer with a cookie or to check one before anything of the message is kept.
 */
export interface ClientHelloPrefix {
  readonly clientVersion: number;
  readonly random: Buffer;
  readonly sessionId: Buffer;
  readonly cookie: Buffer;
}

export interface ClientHello extends ClientHelloPrefix {
  readonly cipherSuites: readonly number[];
  readonly compressionMethods: Buffer;
  readonly extensions: readonly Extension[];
}

const MAX_EXTENSIONS = 64;

function readClientHelloPrefix(r: ByteReader): ClientHelloPrefix {
  const clientVersion = r.uint16();
  const random = r.bytes(32);
  const sessionId = r.vector(1);
  if (sessionId.length > 32) throw new DecodeError('session id too long');
  const cookie = r.vector(1);
  return { clientVersion, random, sessionId, cookie };
}

/** The prefix of a ClientHello from the start of its body (a first fragment); undefined when it is cut short. */
export function parseClientHelloPrefix(start: Buffer): ClientHelloPrefix | undefined {
  try {
    return readClientHelloPrefix(new ByteReader(start));
  } catch (err) {
    if (err instanceof DecodeError) return undefined;
    throw err;
  }
}

/** RFC 6347 4.2.1 ClientHello; throws `DecodeError`. */
export function parseClientHello(body: Buffer): ClientHello {
  const r = new ByteReader(body);
  const { clientVersion, random, sessionId, cookie } = readClientHelloPrefix(r);
  const suites = r.vector(2);
  if (suites.length === 0 || suites.length % 2 !== 0) throw new DecodeError('bad cipher suites');
  const cipherSuites: number[] = [];
  for (let i = 0; i < suites.length; i += 2) cipherSuites.push(suites.readUInt16BE(i));
  const compressionMethods = r.vector(1);
  if (compressionMethods.length === 0) throw new DecodeError('no compression methods');
  const extensions = readExtensions(r);
  r.end();
  return { clientVersion, random, sessionId, cookie, cipherSuites, compressionMethods, extensions };
}

/** The optional extensions block that ends a hello (RFC 5246 7.4.1.2); throws `DecodeError`. */
export function readExtensions(r: ByteReader): Extension[] {
  const extensions: Extension[] = [];
  if (r.remaining === 0) return extensions;
  const ext = new ByteReader(r.vector(2));
  while (ext.remaining > 0) {
    if (extensions.length >= MAX_EXTENSIONS) throw new DecodeError('too many extensions');
    const type = ext.uint16();
    const data = ext.vector(2);
    if (extensions.some((e) => e.type === type)) throw new DecodeError('duplicate extension');
    extensions.push({ type, data });
  }
  return extensions;
}

export function hasExtension(hello: ClientHello, type: number): boolean {
  return hello.extensions.some((e) => e.type === type);
}

export function extensionData(hello: ClientHello, type: number): Buffer | undefined {
  return hello.extensions.find((e) => e.type === type)?.data;
}

export function encodeHelloVerifyRequest(cookie: Buffer): Buffer {
  const out = Buffer.allocUnsafe(3 + cookie.length);
  // RFC 6347 4.2.1: DTLS 1.0 here whatever version is negotiated later.
  out.writeUInt16BE(0xfeff, 0);
  out[2] = cookie.length;
  cookie.copy(out, 3);
  return out;
}

export interface ServerHello {
  readonly random: Buffer;
  readonly sessionId: Buffer;
  readonly cipherSuite: number;
  readonly extensions: readonly Extension[];
}

export function encodeServerHello(hello: ServerHello): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(DTLS_1_2, 0);
  parts.push(head, hello.random, Buffer.from([hello.sessionId.length]), hello.sessionId);
  const tail = Buffer.allocUnsafe(3);
  tail.writeUInt16BE(hello.cipherSuite, 0);
  tail[2] = 0; // compression: null
  parts.push(tail);
  if (hello.extensions.length > 0) {
    const exts = hello.extensions.map((e) => {
      const h = Buffer.allocUnsafe(4);
      h.writeUInt16BE(e.type, 0);
      h.writeUInt16BE(e.data.length, 2);
      return Buffer.concat([h, e.data]);
    });
    const all = Buffer.concat(exts);
    const length = Buffer.allocUnsafe(2);
    length.writeUInt16BE(all.length, 0);
    parts.push(length, all);
  }
  return Buffer.concat(parts);
}

/** RFC 4279 2: ClientKeyExchange of plain PSK carries the identity only; throws `DecodeError`. */
export function parsePskClientKeyExchange(body: Buffer): Buffer {
  const r = new ByteReader(body);
  const identity = r.vector(2);
  r.end();
  return identity;
}

export const EMPTY = Buffer.alloc(0);

/** The messages this server sends that carry no body. */
export const serverHelloDone = (seq: number): Buffer =>
  encodeHandshake(HandshakeType.serverHelloDone, seq, EMPTY);
