import { generate, parse } from 'coap-packet';

/** CoAP option numbers the simulator uses (RFC 7252, 7641, 7959). */
export const CoapOption = {
  IF_MATCH: 1,
  URI_HOST: 3,
  OBSERVE: 6,
  URI_PORT: 7,
  LOCATION_PATH: 8,
  URI_PATH: 11,
  CONTENT_FORMAT: 12,
  URI_QUERY: 15,
  ACCEPT: 17,
  BLOCK2: 23,
  BLOCK1: 27,
  SIZE2: 28,
  SIZE1: 60,
} as const;

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

const NAME_TO_NUMBER: Readonly<Record<string, number>> = {
  'If-Match': 1,
  'Uri-Host': 3,
  ETag: 4,
  'If-None-Match': 5,
  Observe: 6,
  'Uri-Port': 7,
  'Location-Path': 8,
  'Uri-Path': 11,
  'Content-Format': 12,
  'Max-Age': 14,
  'Uri-Query': 15,
  Accept: 17,
  'Location-Query': 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  'Proxy-Uri': 35,
  'Proxy-Scheme': 39,
  Size1: 60,
};

function optionNumber(name: string | number): number {
  if (typeof name === 'number') return name;
  return NAME_TO_NUMBER[name] ?? Number.parseInt(name, 10);
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
      options: p.options.map((o) => ({ number: optionNumber(o.name), value: o.value })),
      payload: p.payload,
    };
  } catch {
    return undefined;
  }
}

export function encodeMessage(m: CoapMessage): Buffer {
  return generate(
    {
      code: formatCode(m.code),
      messageId: m.messageId,
      token: m.token,
      confirmable: m.type === MessageType.CON,
      ack: m.type === MessageType.ACK,
      reset: m.type === MessageType.RST,
      options: m.options.map((o) => ({ name: String(o.number), value: o.value })),
      payload: m.payload,
    },
    64 * 1024,
  );
}

export function uintOption(n: number): Buffer {
  if (n === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from(bytes);
}

export function readUint(value: Buffer): number {
  let n = 0;
  for (const b of value) n = n * 256 + b;
  return n;
}

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

/** Block option value: NUM, M flag, SZX (size = 2 ** (SZX + 4)). */
export interface BlockOption {
  readonly num: number;
  readonly more: boolean;
  readonly szx: number;
}

export function encodeBlock(b: BlockOption): Buffer {
  return uintOption((b.num << 4) | (b.more ? 8 : 0) | b.szx);
}

export function decodeBlock(value: Buffer): BlockOption {
  const n = readUint(value);
  return { num: n >> 4, more: (n & 8) !== 0, szx: n & 7 };
}
