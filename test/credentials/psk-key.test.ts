import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PskKey, StaticCredentialDirectory } from '../../controller/credentials/index.js';

describe('PskKey', () => {
  const key = new PskKey(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));

  it('gives its bytes only through bytes()', () => {
    expect(key.bytes().toString('hex')).toBe('00112233445566778899aabbccddeeff');
    expect(key.length).toBe(16);
  });

  it('prints [redacted] in JSON, strings and inspect', () => {
    const text = [JSON.stringify({ key }), String(key), `${key}`, inspect({ nested: { key } })].join('\n');
    expect(text).not.toMatch(/00112233|aabbcc/i);
    expect(text).toContain('[redacted]');
  });

  it('copies the bytes it is given', () => {
    const source = Buffer.from([1, 2, 3]);
    const copy = new PskKey(source);
    source[0] = 9;
    expect(copy.bytes()[0]).toBe(1);
  });
});

describe('StaticCredentialDirectory', () => {
  it('answers by identity and by endpoint', async () => {
    const dir = new StaticCredentialDirectory([
      { endpoint: 'dev-1', identity: 'id-1', key: new PskKey(Buffer.alloc(16, 1)) },
    ]);
    expect((await dir.byIdentity('id-1'))?.endpoint).toBe('dev-1');
    expect(await dir.byIdentity('id-2')).toBeUndefined();
    expect(await dir.hasCredentials('dev-1')).toBe(true);
    expect(await dir.hasCredentials('dev-2')).toBe(false);
  });
});
