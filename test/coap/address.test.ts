import { describe, expect, it } from 'vitest';
import { normaliseAddress, peerKey } from '../../controller/coap/address.js';

describe('peer addresses', () => {
  it('normalises IPv4-mapped, upper-case and zoned addresses, the same on every call', () => {
    for (let round = 0; round < 2; round++) {
      expect(normaliseAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
      expect(normaliseAddress('::FFFF:10.0.0.2')).toBe('10.0.0.2');
      expect(normaliseAddress('FE80::1%eth0')).toBe('fe80::1');
      expect(normaliseAddress('2001:DB8::7')).toBe('2001:db8::7');
      expect(normaliseAddress('192.0.2.9')).toBe('192.0.2.9');
    }
    expect(peerKey({ address: '::ffff:10.0.0.1', port: 5683 })).toBe(
      peerKey({ address: '10.0.0.1', port: 5683 }),
    );
  });

  it('keeps normalising correctly past the bound of remembered addresses', () => {
    for (let i = 0; i < 10_000; i++) {
      const v4 = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      expect(normaliseAddress(`::ffff:${v4}`)).toBe(v4);
    }
    expect(normaliseAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
  });
});
