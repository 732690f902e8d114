import { parse } from 'coap-packet';
import { type BlockOption, decodeBlock, encodeBlock } from '../../coap/block-option.js';
import { encodeMessage as encodeWire } from '../../coap/encode-message.js';
import { CoapOption, optionNumber } from '../../coap/options.js';
import { decodeUint, encodeUint } from '../../coap/uint.js';

export { type BlockOption, CoapOption, decodeBlock, encodeBlock };

export const MessageType = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export type MessageTypeId = (typeof MessageType)[keyof typeof MessageType];

/** `class.detail` packed as on the wire: 2.05 is `(2 << 5) | 5`. */
export function code(cls: number, detail: number): number {
  return (cls << 5) | detail;
}

export const Code = {
  EMPTY: 0,
  GET: 1,
  POST: 2,
  PUT: 3,
  DELETE: 4,
  CREATED: code(2, 1),
  DELETED: code(2, 2),
  CHANGED: code(2, 4),
  CONTENT: code(2, 5),
  BAD_REQUEST: code(4, 0),
  NOT_FOUND: code(4, 4),
  METHOD_NOT_ALLOWED: code(4, 5),
  NOT_ACCEPTABLE: code(4, 6),
  PRECONDITION_FAILED: code(4, 12),
  UNSUPPORTED_CONTENT_FORMAT: code(4, 15),
  INTERNAL_SERVER_ERROR: code(5, 0),
} as const;

export function formatCode(c: number): string {
  return `${c >> 5}.${String(c & 31).padStart(2, '0')}`;
}

export interface CoapOptionValue {
  readonly number: number;
  readonly value: Buffer;
}

export interface CoapMessage {
  readonly type: MessageTypeId;
  readonly code: number;
  readonly messageId: number;
  readonly token: Buffer;
  readonly options: readonly CoapOptionValue[];
  readonly payload: Buffer;
}

/** Parses a datagram; undefined for anything that is not a well-formed CoAP message. */
export function decodeMessage(datagram: Buffer): CoapMessage | undefined {
  try {
    const p = parse(datagram);
    const [cls = '0', detail = '0'] = p.code.split('.');
    return {
      type: p.ack
        ? MessageType.ACK
        : p.reset
          ? MessageType.RST
          : p.confirmable
            ? MessageType.CON
            : MessageType.NON,
      code: code(Number(cls), Number(detail)),
      messageId: p.messageId,
      token: p.token,
      options: p.options.map((o) => ({ number: optionNumber(o) ?? -1, value: o.value })),
      payload: p.payload,
    };
  } catch {
    return undefined;
  }
}

const WIRE_TYPES = ['con', 'non', 'ack', 'rst'] as const;

export function encodeMessage(m: CoapMessage): Buffer {
  return encodeWire({
    type: WIRE_TYPES[m.type],
    code: m.code,
    messageId: m.messageId,
    token: m.token,
    // Stable: repeated options (Uri-Path, Location-Path) keep their order.
    options: m.options.map((o) => ({ name: o.number, value: o.value })).sort((x, y) => x.name - y.name),
    payload: m.payload,
  });
}

/** The CoAP uint of `n`, as an option value. */
export const uintOption = encodeUint;
export const readUint = decodeUint;

export function optionValues(m: CoapMessage, number: number): Buffer[] {
  return m.options.filter((o) => o.number === number).map((o) => o.value);
}

export function uintOptionOf(m: CoapMessage, number: number): number | undefined {
  const v = m.options.find((o) => o.number === number);
  return v === undefined ? undefined : readUint(v.value);
}

export function uriPath(m: CoapMessage): string {
  return `/${optionValues(m, CoapOption.URI_PATH)
    .map((v) => v.toString('utf8'))
    .join('/')}`;
}

export function uriQuery(m: CoapMessage): string[] {
  return optionValues(m, CoapOption.URI_QUERY).map((v) => v.toString('utf8'));
}

export function pathOptions(number: number, path: string): CoapOptionValue[] {
  return path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => ({ number, value: Buffer.from(s, 'utf8') }));
}
