import { ByteReader, DecodeError } from './byte-reader.js';
import { DTLS_1_2, EMPTY_RENEGOTIATION_INFO_SCSV, ExtensionType } from './constants.js';
import { type Extension, readExtensions } from './handshake-codec.js';

/** What the client puts in its ClientHello (RFC 6347 4.2.1). */
export interface ClientHelloFields {
  readonly random: Buffer;
  /** Empty, or the id of the session to resume. */
  readonly sessionId: Buffer;
  /** Empty, or the cookie of the server's HelloVerifyRequest. */
  readonly cookie: Buffer;
  readonly cipherSuites: readonly number[];
}

/**
 * A ClientHello body: the suites plus the secure renegotiation signal (RFC 5746), null compression,
 * and the extended master secret (RFC 7627) offered.
 */
export function encodeClientHello(hello: ClientHelloFields): Buffer {
  const suites = [...hello.cipherSuites, EMPTY_RENEGOTIATION_INFO_SCSV];
  const out = Buffer.allocUnsafe(
    2 + 32 + 1 + hello.sessionId.length + 1 + hello.cookie.length + 2 + 2 * suites.length + 2 + 2 + 4,
  );
  let o = out.writeUInt16BE(DTLS_1_2, 0);
  o += hello.random.copy(out, o);
  o = out.writeUInt8(hello.sessionId.length, o);
  o += hello.sessionId.copy(out, o);
  o = out.writeUInt8(hello.cookie.length, o);
  o += hello.cookie.copy(out, o);
  o = out.writeUInt16BE(2 * suites.length, o);
  for (const suite of suites) o = out.writeUInt16BE(suite, o);
  o = out.writeUInt8(1, o);
  o = out.writeUInt8(0, o); // null compression
  o = out.writeUInt16BE(4, o); // extensions: extended_master_secret, empty
  o = out.writeUInt16BE(ExtensionType.extendedMasterSecret, o);
  out.writeUInt16BE(0, o);
  return out;
}

/** RFC 6347 4.2.1 HelloVerifyRequest: the cookie; throws `DecodeError`. */
export function parseHelloVerifyRequest(body: Buffer): Buffer {
  const r = new ByteReader(body);
  r.uint16(); // server_version: DTLS 1.0 or 1.2, not checked (RFC 6347 4.2.1)
  const cookie = r.vector(1);
  r.end();
  return cookie;
}

export interface ServerHelloFields {
  readonly serverVersion: number;
  readonly random: Buffer;
  readonly sessionId: Buffer;
  readonly cipherSuite: number;
  readonly compressionMethod: number;
  readonly extensions: readonly Extension[];
}

/** RFC 5246 7.4.1.3 ServerHello; throws `DecodeError`. */
export function parseServerHello(body: Buffer): ServerHelloFields {
  const r = new ByteReader(body);
  const serverVersion = r.uint16();
  const random = r.bytes(32);
  const sessionId = r.vector(1);
  if (sessionId.length > 32) throw new DecodeError('session id too long');
  const cipherSuite = r.uint16();
  const compressionMethod = r.uint8();
  const extensions = readExtensions(r);
  r.end();
  return { serverVersion, random, sessionId, cipherSuite, compressionMethod, extensions };
}

/** RFC 4279 2: a PSK ServerKeyExchange carries only an identity hint; throws `DecodeError`. */
export function parsePskServerKeyExchange(body: Buffer): Buffer {
  const r = new ByteReader(body);
  const hint = r.vector(2);
  r.end();
  return hint;
}

/** RFC 4279 2: the ClientKeyExchange of plain PSK is the identity. */
export function encodePskClientKeyExchange(identity: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + identity.length);
  out.writeUInt16BE(identity.length, 0);
  identity.copy(out, 2);
  return out;
}
