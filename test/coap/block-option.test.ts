import { describe, expect, it } from 'vitest';
import { blockSize, decodeBlock, encodeBlock, szxAtMost } from '../../controller/coap/block-option.js';
import {
  CoapOption,
  hasUnknownCriticalOption,
  optionNumber,
  optionValue,
  optionValues,
  uintOption,
} from '../../controller/coap/options.js';
import { decodeUint, encodeUint } from '../../controller/coap/uint.js';

describe('CoAP uint', () => {
  it('encodes without leading zero bytes, 0 as no bytes, and decodes back', () => {
    expect(encodeUint(0)).toEqual(Buffer.alloc(0));
    expect(encodeUint(255)).toEqual(Buffer.from([0xff]));
    expect(encodeUint(256)).toEqual(Buffer.from([1, 0]));
    expect(encodeUint(0x12345678)).toEqual(Buffer.from([0x12, 0x34, 0x56, 0x78]));
    for (const n of [0, 1, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 40 + 3]) {
      expect(decodeUint(encodeUint(n))).toBe(n);
    }
  });
});

describe('block option', () => {
  it('round-trips number, more flag and size exponent in 0 to 3 bytes', () => {
    expect(encodeBlock({ num: 0, more: false, szx: 0 })).toEqual(Buffer.alloc(0));
    expect(encodeBlock({ num: 1, more: true, szx: 6 })).toEqual(Buffer.from([0x1e]));
    expect(encodeBlock({ num: 0xfffff, more: true, szx: 6 })).toEqual(Buffer.from([0xff, 0xff, 0xfe]));
    for (const b of [
      { num: 0, more: true, szx: 2 },
      { num: 15, more: false, szx: 6 },
      { num: 4096, more: true, szx: 0 },
      { num: 0xfffff, more: false, szx: 5 },
    ]) {
      expect(decodeBlock(encodeBlock(b))).toEqual(b);
    }
  });

  it('refuses values longer than 3 bytes, SZX 7 (BERT) and numbers that do not fit', () => {
    expect(decodeBlock(Buffer.from([0, 0, 0, 0x16]))).toBeUndefined();
    expect(decodeBlock(Buffer.from([0x17]))).toBeUndefined();
    expect(() => encodeBlock({ num: 0x100000, more: false, szx: 6 })).toThrow(RangeError);
    expect(() => encodeBlock({ num: -1, more: false, szx: 6 })).toThrow(RangeError);
    expect(() => encodeBlock({ num: 0, more: false, szx: 7 })).toThrow(RangeError);
  });

  it('maps sizes and exponents', () => {
    expect(blockSize(0)).toBe(16);
    expect(blockSize(6)).toBe(1024);
    expect(szxAtMost(1024)).toBe(6);
    expect(szxAtMost(5000)).toBe(6);
    expect(szxAtMost(300)).toBe(4);
    expect(szxAtMost(16)).toBe(0);
    expect(szxAtMost(1)).toBe(0);
  });
});

describe('options as coap-packet parses them', () => {
  const options = [
    { name: 'Uri-Path', value: Buffer.from('fw') },
    { name: 11, value: Buffer.from('a.bin') },
    { name: 'Block2', value: Buffer.from([0x26]) },
    { name: '2051', value: Buffer.from('x') },
  ];

  it('finds options by number whether named, numbered or a numeric string', () => {
    expect(optionValues(options, CoapOption.URI_PATH).map(String)).toEqual(['fw', 'a.bin']);
    expect(uintOption(options, CoapOption.BLOCK2)).toBe(0x26);
    expect(optionValue(options, CoapOption.BLOCK1)).toBeUndefined();
    expect(optionNumber({ name: '2051' })).toBe(2051);
    expect(optionNumber({ name: 'no such option' })).toBeUndefined();
  });

  it('flags unknown critical options only', () => {
    expect(hasUnknownCriticalOption(options)).toBe(true);
    expect(hasUnknownCriticalOption(options.slice(0, 3))).toBe(false);
    expect(hasUnknownCriticalOption([{ name: '2052', value: Buffer.alloc(0) }])).toBe(false);
  });
});
