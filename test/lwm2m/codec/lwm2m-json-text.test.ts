import { describe, expect, it } from 'vitest';
import { decode, EncodeError, encode, objectLink } from '../../../controller/lwm2m/codec/index.js';
import { ContentFormat } from '../../../controller/lwm2m/content-format.js';
import { defaultModel } from '../../../controller/lwm2m/model/index.js';
import { hex } from './hex.js';

/** OMA LwM2M TS 1.0 §6.4.4, JSON Read of the Device object instance /3/0 (as printed, with line breaks). */
const deviceLwm2mJson = `{"bn":"/3/0/",
"e":[
{"n":"0","sv":"Open Mobile Alliance"},
{"n":"1","sv":"Lightweight M2M Client"},
{"n":"2","sv":"345000123"},
{"n":"3","sv":"1.0"},
{"n":"6/0","v":1},
{"n":"6/1","v":5},
{"n":"7/0","v":3800},
{"n":"7/1","v":5000},
{"n":"8/0","v":125},
{"n":"8/1","v":900},
{"n":"9","v":100},
{"n":"10","v":15},
{"n":"11/0","v":0},
{"n":"13","v":1367491215},
{"n":"14","sv":"+02:00"},
{"n":"16","sv":"U"}]
}`;

describe('LwM2M JSON (11543)', () => {
  it('decodes the Device object example of the 1.0 specification', () => {
    const result = decode(ContentFormat.LWM2M_JSON, '/3/0', Buffer.from(deviceLwm2mJson), defaultModel);
    expect(result.ok && result.records.length).toBe(16);
    expect(result.ok && result.records.slice(3, 6)).toEqual([
      { path: '/3/0/3', value: '1.0' },
      { path: '/3/0/6/0', value: 1 },
      { path: '/3/0/6/1', value: 5 },
    ]);
    expect(result.ok && result.records[13]).toEqual({ path: '/3/0/13', value: new Date(1367491215000) });
  });

  it('encodes the same example byte for byte once line breaks are removed', () => {
    const decoded = decode(ContentFormat.LWM2M_JSON, '/3/0', Buffer.from(deviceLwm2mJson), defaultModel);
    if (!decoded.ok) throw new Error(decoded.error);
    const out = encode(ContentFormat.LWM2M_JSON, '/3/0', decoded.records, defaultModel);
    expect(out.toString()).toBe(deviceLwm2mJson.replaceAll('\n', ''));
  });

  it('decodes bv booleans, ov object links, base64 sv for opaque, and bt + t times', () => {
    const payload =
      '{"bn":"/","bt":1700000000,"e":[{"n":"1/0/6","bv":false},{"n":"1/0/24","ov":"21:0"},' +
      '{"n":"5/0/0","sv":"AQI="},{"n":"5/0/3","v":1,"t":10}]}';
    expect(decode(ContentFormat.LWM2M_JSON, '/', Buffer.from(payload), defaultModel)).toEqual({
      ok: true,
      records: [
        { path: '/1/0/6', value: false, time: new Date(1700000000000) },
        { path: '/1/0/24', value: objectLink(21, 0), time: new Date(1700000000000) },
        { path: '/5/0/0', value: Buffer.from([1, 2]), time: new Date(1700000000000) },
        { path: '/5/0/3', value: 1, time: new Date(1700000010000) },
      ],
    });
  });
});

describe('text/plain (0) and opaque (42)', () => {
  const text = (path: string, value: Parameters<typeof encode>[2][number]['value']) =>
    encode(ContentFormat.TEXT, path, [{ path, value }], defaultModel).toString();

  it('writes each type as the specification says: decimal numbers, 1/0 booleans, seconds, o:i links', () => {
    expect(text('/3/0/3', '1.0')).toBe('1.0');
    expect(text('/5/0/3', 2)).toBe('2');
    expect(text('/3/0/10', 2n ** 63n - 1n)).toBe('9223372036854775807');
    expect(text('/1/0/6', true)).toBe('1');
    expect(text('/3/0/13', new Date(1367491215000))).toBe('1367491215');
    expect(text('/1/0/24', objectLink(21, 0))).toBe('21:0');
    expect(text('/5/0/0', Buffer.from('hi'))).toBe('aGk=');
  });

  it('reads text by the model type', () => {
    const read = (path: string, body: string) =>
      decode(ContentFormat.TEXT, path, Buffer.from(body), defaultModel);
    expect(read('/5/0/3', '2')).toEqual({ ok: true, records: [{ path: '/5/0/3', value: 2 }] });
    expect(read('/3/0/3', '1.0')).toEqual({ ok: true, records: [{ path: '/3/0/3', value: '1.0' }] });
    expect(read('/3/0/13', '1367491215')).toEqual({
      ok: true,
      records: [{ path: '/3/0/13', value: new Date(1367491215000) }],
    });
    expect(read('/1/0/6', '0')).toEqual({ ok: true, records: [{ path: '/1/0/6', value: false }] });
    expect(read('/1/0/24', '21:0')).toEqual({
      ok: true,
      records: [{ path: '/1/0/24', value: objectLink(21, 0) }],
    });
    expect(read('/3/0/10', '9223372036854775807')).toEqual({
      ok: true,
      records: [{ path: '/3/0/10', value: 2n ** 63n - 1n }],
    });
  });

  it('reads text of an unknown resource as a string', () => {
    expect(decode(ContentFormat.TEXT, '/3442/0/1', Buffer.from('42'), defaultModel)).toEqual({
      ok: true,
      records: [{ path: '/3442/0/1', value: '42' }],
    });
  });

  it('rejects text that does not match the type', () => {
    expect(decode(ContentFormat.TEXT, '/5/0/3', Buffer.from('two'), defaultModel).ok).toBe(false);
    expect(decode(ContentFormat.TEXT, '/1/0/6', Buffer.from('yes'), defaultModel).ok).toBe(false);
    expect(decode(ContentFormat.TEXT, '/3/0/13', Buffer.from('1.5'), defaultModel).ok).toBe(false);
  });

  it('carries opaque bytes unchanged', () => {
    const pkg = Buffer.from([0, 1, 2, 0xff]);
    expect(encode(ContentFormat.OPAQUE, '/5/0/0', [{ path: '/5/0/0', value: pkg }])).toEqual(pkg);
    expect(decode(ContentFormat.OPAQUE, '/5/0/0', pkg)).toEqual({
      ok: true,
      records: [{ path: '/5/0/0', value: pkg }],
    });
  });

  it('refuses to put several values or a non-resource path in a single-value format', () => {
    const two = [
      { path: '/3/0/0', value: 'a' },
      { path: '/3/0/1', value: 'b' },
    ];
    expect(() => encode(ContentFormat.TEXT, '/3/0', two)).toThrow(EncodeError);
    expect(() => encode(ContentFormat.TEXT, '/3/0/0', two)).toThrow(EncodeError);
    expect(decode(ContentFormat.OPAQUE, '/5/0', Buffer.from([1])).ok).toBe(false);
  });

  it('refuses a value that does not fit the model type', () => {
    expect(() =>
      encode(ContentFormat.TLV, '/5/0/3', [{ path: '/5/0/3', value: 'two' }], defaultModel),
    ).toThrow(EncodeError);
  });
});

describe('LwM2M CBOR (11544)', () => {
  it('encodes a resource as maps nested by path segment from the root', () => {
    const bytes = hex(`
      A1 03                     # {3:
      A1 00                     #   {0:
      A2 00                     #     {0:
      74 4F70656E204D6F62696C6520416C6C69616E6365   # text(20) "Open Mobile Alliance",
      06 A2 00 01 01 05         #      6: {0: 1, 1: 5}}}}
    `);
    const records = [
      { path: '/3/0/0', value: 'Open Mobile Alliance' },
      { path: '/3/0/6/0', value: 1 },
      { path: '/3/0/6/1', value: 5 },
    ];
    expect(encode(ContentFormat.LWM2M_CBOR, '/3/0', records, defaultModel).toString('hex')).toBe(
      bytes.toString('hex'),
    );
    expect(decode(ContentFormat.LWM2M_CBOR, '/3/0', bytes, defaultModel)).toEqual({ ok: true, records });
  });

  it('decodes keys that are arrays of path segments', () => {
    const ok = hex(`
      A1 82 03 00               # {[3, 0]:
      A2 0D 1A 51 82 42 8F      #   {13: 1367491215,
      82 06 01 05               #    [6, 1]: 5}}
    `);
    expect(decode(ContentFormat.LWM2M_CBOR, '/3/0', ok, defaultModel)).toEqual({
      ok: true,
      records: [
        { path: '/3/0/13', value: new Date(1367491215000) },
        { path: '/3/0/6/1', value: 5 },
      ],
    });
    // [3, 0] + [6, 0, 1] makes five segments, deeper than a resource instance
    const tooDeep = hex('A1 82 03 00 A1 83 06 00 01 F5');
    expect(decode(ContentFormat.LWM2M_CBOR, '/3/0', tooDeep, defaultModel)).toEqual({
      ok: false,
      error: expect.stringContaining('too deep'),
    });
  });
});
