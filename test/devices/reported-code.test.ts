import { describe, expect, it } from 'vitest';
import {
  CODE_RANGES,
  integerOf,
  MAX_RAW_CODE_LENGTH,
  reportedCode,
  reportedText,
} from '../../controller/devices/reported-code.js';
import { objectLink } from '../../controller/lwm2m/codec/index.js';
import { reportedCodeText, resultMeaning, stateMeaning } from '../../controller/store/update-codes.js';

describe('reported codes', () => {
  it('takes integers exactly, whatever their JavaScript type, and nothing else', () => {
    const cases: [unknown, number | undefined][] = [
      [3, 3],
      [-0, -0],
      [1.5, undefined],
      [Number.NaN, undefined],
      [2 ** 53, undefined],
      [5n, 5],
      [2n ** 63n, undefined],
      [true, 1],
      [false, 0],
      [' 2 ', 2],
      ['+4', 4],
      ['1e3', undefined],
      ['', undefined],
      ['99999999999999999', undefined],
      [Buffer.from('7'), 7],
      [Buffer.from([0xff]), undefined],
      [new Date(0), undefined],
      [objectLink(1, 2), undefined],
    ];
    for (const [value, expected] of cases) {
      expect([value, integerOf(value as never)]).toEqual([value, expected]);
    }
  });

  it('knows a code within its object 5 range and keeps the raw text of any other', () => {
    expect(reportedCode(undefined, CODE_RANGES.state)).toBeUndefined();
    expect(reportedCode(3, CODE_RANGES.state)).toEqual({ kind: 'known', code: 3 });
    expect(reportedCode(4, CODE_RANGES.state)).toEqual({ kind: 'unknown', raw: '4' });
    expect(reportedCode(11, CODE_RANGES.result)).toEqual({ kind: 'known', code: 11 });
    expect(reportedCode(12, CODE_RANGES.result)).toEqual({ kind: 'unknown', raw: '12' });
    expect(reportedCode(-5, CODE_RANGES.result)).toEqual({ kind: 'unknown', raw: '-5' });
    expect(reportedCode(70_000, CODE_RANGES.state)).toEqual({ kind: 'unknown', raw: '70000' });
    expect(reportedCode(1.5, CODE_RANGES.state)).toEqual({ kind: 'unknown', raw: '1.5' });
    expect(reportedCode(2n ** 40n, CODE_RANGES.result)).toEqual({ kind: 'unknown', raw: '1099511627776' });
    expect(reportedCode(5, CODE_RANGES.protocol)).toEqual({ kind: 'known', code: 5 });
    expect(reportedCode(6, CODE_RANGES.protocol)).toEqual({ kind: 'unknown', raw: '6' });
    expect(reportedCode(3, CODE_RANGES.deliveryMethod)).toEqual({ kind: 'unknown', raw: '3' });
    // Raw text is storable: NUL and lone surrogates escaped, bytes that are not UTF-8 as hex, bounded.
    expect(reportedCode('a\0', CODE_RANGES.state)).toEqual({ kind: 'unknown', raw: 'a\\u0000' });
    expect(reportedCode('\uD800', CODE_RANGES.state)).toEqual({ kind: 'unknown', raw: '\\ud800' });
    expect(reportedCode(Buffer.from([0xff, 0]), CODE_RANGES.state)).toEqual({
      kind: 'unknown',
      raw: '0xff00',
    });
    const long = reportedCode('🙂'.repeat(100), CODE_RANGES.state);
    expect(long?.kind === 'unknown' && Array.from(long.raw).length).toBe(MAX_RAW_CODE_LENGTH);
  });

  it('shows a stored code with its meaning, an unknown one as "unknown code N"', () => {
    expect(reportedCodeText(2, null, stateMeaning)).toBe('2 downloaded');
    expect(reportedCodeText(null, '70000', stateMeaning)).toBe('unknown code 70000');
    expect(reportedCodeText(null, null, resultMeaning)).toBeNull();
  });
});

describe('reported text', () => {
  it('keeps valid text and refuses NUL, text that was not UTF-8, lone surrogates and overlong names', () => {
    expect(reportedText(undefined)).toBeUndefined();
    expect(reportedText('1.0.0')).toEqual({ ok: true, text: '1.0.0' });
    expect(reportedText('é🙂\uFEFF')).toEqual({ ok: true, text: 'é🙂\uFEFF' });
    expect(reportedText(Buffer.from('v2'))).toEqual({ ok: true, text: 'v2' });
    expect(reportedText(42)).toEqual({ ok: true, text: '42' });
    expect(reportedText('a\0b')).toEqual({ ok: false, reason: 'contains NUL' });
    expect(reportedText(Buffer.from([0x61, 0xff]))).toEqual({ ok: false, reason: 'is not valid UTF-8' });
    // What the lenient codecs make of bytes that are not UTF-8.
    expect(reportedText('a\uFFFD')).toEqual({ ok: false, reason: 'is not valid UTF-8' });
    expect(reportedText('a\uDC00')).toEqual({ ok: false, reason: 'is not valid UTF-8' });
    expect(reportedText('x'.repeat(255))).toEqual({ ok: true, text: 'x'.repeat(255) });
    expect(reportedText('x'.repeat(256))).toEqual({ ok: false, reason: 'is longer than 255 characters' });
  });
});
