import { generate } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { emptyMessage, encodeMessage, type MessageToEncode } from '../../controller/coap/encode-message.js';

const bytes = (n: number, fill = 0x61) => Buffer.alloc(n, fill);

/** The same message through coap-packet, the encoder the rest of the server uses. */
function reference(m: MessageToEncode): Buffer {
  return generate({
    code: typeof m.code === 'number' ? `${m.code >> 5}.${String(m.code & 31).padStart(2, '0')}` : m.code,
    messageId: m.messageId,
    token: m.token,
    options: m.options.map((o) => ({ name: o.name, value: o.value })),
    payload: m.payload,
    confirmable: m.type === 'con',
    ack: m.type === 'ack',
    reset: m.type === 'rst',
  });
}

describe('encodeMessage', () => {
  const cases: [string, MessageToEncode][] = [
    [
      'empty ACK',
      { type: 'ack', code: '0.00', messageId: 0x1234, token: bytes(0), options: [], payload: bytes(0) },
    ],
    [
      'RST',
      { type: 'rst', code: '0.00', messageId: 0xffff, token: bytes(0), options: [], payload: bytes(0) },
    ],
    [
      '2.01 with Location-Path rd/<id> on the ACK',
      {
        type: 'ack',
        code: '2.01',
        messageId: 7,
        token: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]),
        options: [
          { name: 8, value: Buffer.from('rd') },
          { name: 8, value: Buffer.from('AbCdEfGh') },
        ],
        payload: bytes(0),
      },
    ],
    [
      'separate CON 4.00 with a payload',
      {
        type: 'con',
        code: '4.00',
        messageId: 40_000,
        token: Buffer.from([0xaa]),
        options: [],
        payload: Buffer.from('invalid link format'),
      },
    ],
    [
      'NON 2.05 with option deltas and lengths past 12 and 268',
      {
        type: 'non',
        code: '2.05',
        messageId: 1,
        token: bytes(3, 9),
        options: [
          { name: 12, value: Buffer.from([0x6e]) }, // delta 12, length 1
          { name: 15, value: bytes(13) }, // length 13: one extended byte
          { name: 35, value: bytes(300) }, // delta 20, length 300: two extended bytes
          { name: 2053, value: bytes(0) }, // delta 2018, empty value
        ],
        payload: bytes(800, 0x7a),
      },
    ],
    [
      '2.31 given as the code byte',
      {
        type: 'ack',
        code: (2 << 5) | 31,
        messageId: 3,
        token: bytes(2),
        options: [{ name: 27, value: Buffer.from([0x0e]) }],
        payload: bytes(0),
      },
    ],
    [
      '5.03 without token or options',
      { type: 'ack', code: '5.03', messageId: 9, token: bytes(0), options: [], payload: bytes(0) },
    ],
  ];

  it.each(cases)('%s: the same bytes as coap-packet', (_, message) => {
    expect(encodeMessage(message).equals(reference(message))).toBe(true);
  });

  it('refuses unsorted options, long tokens and codes that are not CoAP codes', () => {
    const base: MessageToEncode = {
      type: 'ack',
      code: '2.04',
      messageId: 1,
      token: bytes(0),
      options: [],
      payload: bytes(0),
    };
    const unsorted = [
      { name: 11, value: bytes(1) },
      { name: 8, value: bytes(1) },
    ];
    expect(() => encodeMessage({ ...base, options: unsorted })).toThrow(/sorted/);
    expect(() => encodeMessage({ ...base, token: bytes(9) })).toThrow(/token/);
    expect(() => encodeMessage({ ...base, code: '9.99' })).toThrow(/not a CoAP code/);
    expect(() => encodeMessage({ ...base, code: 'hello' })).toThrow(/not a CoAP code/);
    expect(() => encodeMessage({ ...base, code: 256 })).toThrow(/not a CoAP code/);
  });

  it('encodes empty ACKs and RSTs', () => {
    expect(emptyMessage('ack', 0x1234)).toEqual(Buffer.from([0x60, 0, 0x12, 0x34]));
    expect(emptyMessage('rst', 7)).toEqual(Buffer.from([0x70, 0, 0, 7]));
  });
});
