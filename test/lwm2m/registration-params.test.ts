import { describe, expect, it } from 'vitest';
import {
  parseRegisterQuery,
  parseUpdateQuery,
} from '../../controller/lwm2m/registration/registration-params.js';
import { decodeWireText } from '../../controller/lwm2m/registration/wire-text.js';

describe('registration parameters', () => {
  it('take any lifetime of the spec (1..2^32-1) and hold at most what the database stores', () => {
    const lifetime = (lt: string) => {
      const r = parseRegisterQuery(['ep=a', `lt=${lt}`]);
      return r.kind === 'ok' ? r.params.lifetime : r.message;
    };
    expect(lifetime('1')).toBe(1);
    expect(lifetime('2147483647')).toBe(2_147_483_647);
    expect(lifetime('2147483648')).toBe(2_147_483_647);
    expect(lifetime('4294967295')).toBe(2_147_483_647);
    for (const bad of ['0', '00', '4294967296', '9999999999', '-1', '1.5', ' 1', '', 'x']) {
      expect([bad, lifetime(bad)]).toEqual([bad, expect.stringContaining('from 1 to 4294967295')]);
    }
    const update = parseUpdateQuery(['lt=3000000000']);
    expect(update.kind === 'ok' && update.params.lifetime).toBe(2_147_483_647);
    expect(parseUpdateQuery(['lt=0']).kind).toBe('rejected');
  });

  it('still take what real devices send: empty values, b=U, lwm2m=1.1, Q alone', () => {
    const r = parseRegisterQuery(['ep=dev', 'lwm2m=1.1', 'b=U', 'sms=', 'Q', 'lt=300']);
    expect(r).toEqual({
      kind: 'ok',
      params: { endpoint: 'dev', lifetime: 300, lwm2mVersion: '1.1', binding: 'U', queueMode: true, sms: '' },
    });
  });
});

describe('names on the wire', () => {
  it('decode when valid UTF-8 without NUL, exactly as sent (a leading BOM included)', () => {
    expect(decodeWireText(Buffer.from('\uFEFFdév-🙂'))).toEqual({ ok: true, text: '\uFEFFdév-🙂' });
    expect(decodeWireText(Buffer.alloc(0))).toEqual({ ok: true, text: '' });
    expect(decodeWireText(Buffer.from('a\0'))).toEqual({ ok: false, reason: 'contains a NUL byte' });
    for (const bytes of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
      expect(decodeWireText(Buffer.from(bytes))).toEqual({ ok: false, reason: 'is not valid UTF-8' });
    }
  });
});
