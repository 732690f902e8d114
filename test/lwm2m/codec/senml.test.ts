import { describe, expect, it } from 'vitest';
import { decode, encode, objectLink, type ResourceRecord } from '../../../controller/lwm2m/codec/index.js';
import { ContentFormat } from '../../../controller/lwm2m/content-format.js';
import { defaultModel } from '../../../controller/lwm2m/model/index.js';
import { deviceRecords } from './device-records.js';
import { hex } from './hex.js';

const JSON_FMT = ContentFormat.SENML_JSON;
const CBOR_FMT = ContentFormat.SENML_CBOR;

/** OMA LwM2M TS 1.1 Core, SenML JSON Read of /3/0 (the spec's line breaks removed). */
const deviceSenmlJson =
  '[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},' +
  '{"n":"1","vs":"Lightweight M2M Client"},' +
  '{"n":"2","vs":"345000123"},' +
  '{"n":"3","vs":"1.0"},' +
  '{"n":"6/0","v":1},' +
  '{"n":"6/1","v":5},' +
  '{"n":"7/0","v":3800},' +
  '{"n":"7/1","v":5000},' +
  '{"n":"8/0","v":125},' +
  '{"n":"8/1","v":900},' +
  '{"n":"9","v":100},' +
  '{"n":"10","v":15},' +
  '{"n":"11/0","v":0},' +
  '{"n":"13","v":1367491215},' +
  '{"n":"14","vs":"+02:00"},' +
  '{"n":"16","vs":"U"}]';

describe('SenML JSON (110)', () => {
  it('encodes the Device object Read example of the specification byte for byte', () => {
    expect(encode(JSON_FMT, '/3/0', deviceRecords, defaultModel).toString('utf8')).toBe(deviceSenmlJson);
  });

  it('decodes the Device object example, time resources as Dates', () => {
    expect(decode(JSON_FMT, '/3/0', Buffer.from(deviceSenmlJson), defaultModel)).toEqual({
      ok: true,
      records: deviceRecords,
    });
  });

  it('decodes the example with the whitespace and line breaks of the specification text', () => {
    const spaced = deviceSenmlJson.replaceAll('},{', '},\n  {').replaceAll('":', '": ');
    expect(decode(JSON_FMT, '/3/0', Buffer.from(`[\n  ${spaced.slice(1, -1)}\n]`), defaultModel)).toEqual({
      ok: true,
      records: deviceRecords,
    });
  });

  it('resolves bn "/5/0/" + n "3" and bn "/5/0" + n "/3" to the same path', () => {
    const a = decode(JSON_FMT, '/5/0', Buffer.from('[{"bn":"/5/0/","n":"3","v":2}]'), defaultModel);
    const b = decode(JSON_FMT, '/5/0', Buffer.from('[{"bn":"/5/0","n":"/3","v":2}]'), defaultModel);
    const c = decode(JSON_FMT, '/5/0', Buffer.from('[{"n":"/5/0/3","v":2}]'), defaultModel);
    const d = decode(JSON_FMT, '/5/0/3', Buffer.from('[{"bn":"/5/0/3","v":2}]'), defaultModel);
    const expected = { ok: true, records: [{ path: '/5/0/3', value: 2 }] };
    expect([a, b, c, d]).toEqual([expected, expected, expected, expected]);
  });

  it('keeps the base name for following records until a new one is given', () => {
    const payload = '[{"bn":"/5/0/","n":"3","v":1},{"n":"5","v":0},{"bn":"/3/0/","n":"3","vs":"2.1"}]';
    expect(decode(JSON_FMT, '/', Buffer.from(payload), defaultModel)).toEqual({
      ok: true,
      records: [
        { path: '/5/0/3', value: 1 },
        { path: '/5/0/5', value: 0 },
        { path: '/3/0/3', value: '2.1' },
      ],
    });
  });

  it('adds base time and time to give each record its absolute time', () => {
    const payload = '[{"bn":"/5/0/","bt":1700000000,"n":"3","v":1,"t":5},{"n":"5","v":0}]';
    expect(decode(JSON_FMT, '/5/0', Buffer.from(payload), defaultModel)).toEqual({
      ok: true,
      records: [
        { path: '/5/0/3', value: 1, time: new Date(1700000005 * 1000) },
        { path: '/5/0/5', value: 0, time: new Date(1700000000 * 1000) },
      ],
    });
  });

  it('ignores relative times (below 2^28), which mean "now"', () => {
    const payload = '[{"bn":"/5/0/","n":"3","v":1,"t":-5}]';
    expect(decode(JSON_FMT, '/5/0', Buffer.from(payload), defaultModel)).toEqual({
      ok: true,
      records: [{ path: '/5/0/3', value: 1 }],
    });
  });

  it('carries objlnk as vlo, opaque as base64url vd, and booleans as vb', () => {
    const records: ResourceRecord[] = [
      { path: '/1/0/24', value: objectLink(21, 0) },
      { path: '/5/0/0', value: Buffer.from([0xfb, 0xff, 0x00]) },
      { path: '/1/0/6', value: true },
    ];
    const json = '[{"bn":"/","n":"1/0/24","vlo":"21:0"},{"n":"5/0/0","vd":"-_8A"},{"n":"1/0/6","vb":true}]';
    expect(encode(JSON_FMT, '/', records, defaultModel).toString()).toBe(json);
    expect(decode(JSON_FMT, '/', Buffer.from(json), defaultModel)).toEqual({ ok: true, records });
  });

  it('reads a single resource with its parent as base name', () => {
    const bytes = encode(JSON_FMT, '/3/0/3', [{ path: '/3/0/3', value: '1.0' }], defaultModel);
    expect(bytes.toString()).toBe('[{"bn":"/3/0/","n":"3","vs":"1.0"}]');
  });

  it('writes 64-bit integers with every digit', () => {
    const bytes = encode(JSON_FMT, '/3/0', [{ path: '/3/0/10', value: 2n ** 62n }], defaultModel);
    expect(bytes.toString()).toBe('[{"bn":"/3/0/","n":"10","v":4611686018427387904}]');
  });
});

describe('SenML CBOR (112)', () => {
  const records: ResourceRecord[] = [
    { path: '/3/0/0', value: 'Open Mobile Alliance' },
    { path: '/3/0/9', value: 100 },
    { path: '/3/0/6/0', value: 1 },
    { path: '/3/0/13', value: new Date(1367491215 * 1000) },
  ];
  // CBOR (RFC 8949) written out by hand from the SenML labels bn=-2, n=0, v=2, vs=3.
  const bytes = hex(`
    84                                # array of 4 records
    A3                                # map of 3 pairs
       21 65 2F 33 2F 30 2F           #   -2 (bn): text(5) "/3/0/"
       00 61 30                       #   0 (n): text(1) "0"
       03 74 4F70656E204D6F62696C6520416C6C69616E6365  # 3 (vs): text(20) "Open Mobile Alliance"
    A2 00 61 39 02 18 64              # {n: "9", v: uint8 100}
    A2 00 63 36 2F 30 02 01           # {n: "6/0", v: 1}
    A2 00 62 31 33 02 1A 51 82 42 8F  # {n: "13", v: uint32 1367491215}
  `);

  it('encodes with integer labels byte for byte', () => {
    expect(encode(CBOR_FMT, '/3/0', records, defaultModel).toString('hex')).toBe(bytes.toString('hex'));
  });

  it('decodes the same bytes back, typed by the model', () => {
    expect(decode(CBOR_FMT, '/3/0', bytes, defaultModel)).toEqual({ ok: true, records });
  });

  it('encodes booleans as vb (4), opaque as a byte string vd (8) and objlnk under the text key "vlo"', () => {
    const out = encode(
      CBOR_FMT,
      '/',
      [
        { path: '/1/0/6', value: false },
        { path: '/5/0/0', value: Buffer.from([1, 2]) },
        { path: '/1/0/24', value: objectLink(3, 0) },
      ],
      defaultModel,
    );
    const expected = hex(`
      83
      A3 21 61 2F 00 65 31 2F 30 2F 36 04 F4     # {bn: "/", n: "1/0/6", vb: false}
      A2 00 65 35 2F 30 2F 30 08 42 01 02        # {n: "5/0/0", vd: h'0102'}
      A2 00 66 31 2F 30 2F 32 34 63 76 6C 6F 63 33 3A 30   # {n: "1/0/24", "vlo": "3:0"}
    `);
    expect(out.toString('hex')).toBe(expected.toString('hex'));
  });

  it('resolves both name splits and base time', () => {
    const payload = hex(`
      82
      A4 21 64 2F 35 2F 30 22 1A 65 53 F1 00 00 62 2F 33 02 02   # {bn "/5/0", bt 1700000000, n "/3", v 2}
      A2 00 61 35 02 00                                           # {n "5", v 0} → "/5/0" + "5" joined with "/"
    `);
    expect(decode(CBOR_FMT, '/5/0', payload, defaultModel)).toEqual({
      ok: true,
      records: [
        { path: '/5/0/3', value: 2, time: new Date(1700000000 * 1000) },
        { path: '/5/0/5', value: 0, time: new Date(1700000000 * 1000) },
      ],
    });
  });

  it('keeps 64-bit integers exact', () => {
    const big = 2n ** 62n + 1n;
    const out = encode(CBOR_FMT, '/3/0', [{ path: '/3/0/10', value: big }], defaultModel);
    expect(decode(CBOR_FMT, '/3/0', out, defaultModel)).toEqual({
      ok: true,
      records: [{ path: '/3/0/10', value: big }],
    });
  });
});
