import { describe, expect, it } from 'vitest';
import { deviceText } from '../../controller/lwm2m/index.js';

describe('deviceText: what a device chose to say, fit to show and to store', () => {
  it('turns NUL and other control characters into single spaces', () => {
    expect(deviceText('a\0b')).toBe('a b');
    expect(deviceText('bad request\0\0\0')).toBe('bad request');
    expect(deviceText('line 1\r\nline 2\t\u007f\u0085end')).toBe('line 1 line 2 end');
  });

  it('leaves nothing as undefined', () => {
    expect(deviceText('')).toBeUndefined();
    expect(deviceText('\0\n ')).toBeUndefined();
  });

  it('replaces lone surrogates and keeps pairs', () => {
    expect(deviceText('x\ud800y\udc00z')).toBe('x\ufffdy\ufffdz');
    expect(deviceText('ok \u{1f600}')).toBe('ok \u{1f600}');
  });

  it('cuts at a character, never inside a surrogate pair, and is idempotent', () => {
    const long = `${'a'.repeat(9)}\u{1f600}${'b'.repeat(20)}`;
    const cut = deviceText(long, 11);
    expect(cut).toBe(`${'a'.repeat(9)}\u{1f600}…`);
    expect(deviceText(cut!, 11)).toBe(cut);
    expect(Array.from(deviceText('y'.repeat(1000))!)).toHaveLength(200);
  });
});
