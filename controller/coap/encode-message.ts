/** A CoAP message to encode: options sorted by number, token of at most 8 bytes. */
export interface MessageToEncode {
  readonly type: 'con' | 'non' | 'ack' | 'rst';
  /** "c.dd", e.g. "2.01", or the code byte as on the wire ((class << 5) | detail). */
  readonly code: string | number;
  readonly messageId: number;
  readonly token: Buffer;
  readonly options: readonly { readonly name: number; readonly value: Buffer }[];
  readonly payload: Buffer;
}

const TYPE_BITS = { con: 0, non: 1, ack: 2, rst: 3 } as const;
const codeBytes = new Map<string, number>();

function codeByte(code: string | number): number {
  if (typeof code === 'number') {
    if (!Number.isInteger(code) || code < 0 || code > 0xff) throw new Error(`not a CoAP code: ${code}`);
    return code;
  }
  let byte = codeBytes.get(code);
  if (byte === undefined) {
    const dot = code.indexOf('.');
    const cls = Number(code.slice(0, dot));
    const detail = Number(code.slice(dot + 1));
    if (dot < 0 || !(cls >= 0 && cls <= 7) || !(detail >= 0 && detail <= 31)) {
      throw new Error(`not a CoAP code: ${code}`);
    }
    byte = (cls << 5) | detail;
    codeBytes.set(code, byte);
  }
  return byte;
}

/** Bytes of an option delta or length: the nibble and the extended bytes (RFC 7252 3.1). */
function extendedLength(n: number): number {
  return n < 13 ? 0 : n < 269 ? 1 : 2;
}

function nibble(n: number): number {
  return n < 13 ? n : n < 269 ? 13 : 14;
}

function writeExtended(buf: Buffer, at: number, n: number): number {
  if (n < 13) return at;
  if (n < 269) {
    buf[at] = n - 13;
    return at + 1;
  }
  buf.writeUInt16BE(n - 269, at);
  return at + 2;
}

/**
 * Encodes a CoAP message (RFC 7252 3) into one exact-size buffer. coap-packet's `generate` does the
 * same but copies and sorts the options and fills in defaults on every call, a measurable share of
 * answering a registration storm.
 */
export function encodeMessage(m: MessageToEncode): Buffer {
  if (m.token.length > 8) throw new Error('token longer than 8 bytes');
  let length = 4 + m.token.length;
  let previous = 0;
  for (const option of m.options) {
    const delta = option.name - previous;
    if (delta < 0) throw new Error('options must be sorted by number');
    const size = option.value.length;
    length += 1 + extendedLength(delta) + extendedLength(size) + size;
    previous = option.name;
  }
  if (m.payload.length > 0) length += 1 + m.payload.length;
  const buf = Buffer.allocUnsafe(length);
  buf[0] = 0x40 | (TYPE_BITS[m.type] << 4) | m.token.length;
  buf[1] = codeByte(m.code);
  buf.writeUInt16BE(m.messageId, 2);
  let at = 4 + m.token.copy(buf, 4);
  previous = 0;
  for (const option of m.options) {
    const delta = option.name - previous;
    const size = option.value.length;
    buf[at++] = (nibble(delta) << 4) | nibble(size);
    at = writeExtended(buf, at, delta);
    at = writeExtended(buf, at, size);
    at += option.value.copy(buf, at);
    previous = option.name;
  }
  if (m.payload.length > 0) {
    buf[at++] = 0xff;
    m.payload.copy(buf, at);
  }
  return buf;
}

const NO_BYTES = Buffer.alloc(0);

/** An empty ACK or RST (RFC 7252 4.2, 4.3). */
export function emptyMessage(type: 'ack' | 'rst', messageId: number): Buffer {
  return encodeMessage({ type, code: '0.00', messageId, token: NO_BYTES, options: [], payload: NO_BYTES });
}
