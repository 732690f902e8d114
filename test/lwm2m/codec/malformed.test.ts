import { describe, expect, it } from 'vitest';
import { decode, encode, SUPPORTED_FORMATS } from '../../../controller/lwm2m/codec/index.js';
import { ContentFormat } from '../../../controller/lwm2m/content-format.js';
import { defaultModel } from '../../../controller/lwm2m/model/index.js';
import { hex } from './hex.js';

const notOk = { ok: false, error: expect.any(String) };

describe('malformed payloads give { ok: false } instead of throwing', () => {
  it('rejects truncated TLV: header, identifier, length bytes and value', () => {
    for (const bad of [
      'C8',
      'C8 00',
      'E1 12',
      'D0 00 01',
      'D8 00 01 00',
      'C4 0D 51 82 42',
      'C8 00 14 4F 70',
    ]) {
      expect(decode(ContentFormat.TLV, '/3/0', hex(bad), defaultModel), bad).toEqual(notOk);
    }
  });

  it('rejects TLV whose nested length runs past its container', () => {
    // multiple resource 6 claims 3 bytes; the instance inside claims 5
    expect(decode(ContentFormat.TLV, '/3/0', hex('83 06 45 00 01'), defaultModel)).toEqual(notOk);
    // object instance 0 of 4 bytes truncates a 3-byte resource after 1 byte of value
    expect(decode(ContentFormat.TLV, '/3', hex('08 00 04 C3 03 31 2E 30'), defaultModel)).toEqual(notOk);
  });

  it('rejects TLV values of the wrong size for their type', () => {
    expect(decode(ContentFormat.TLV, '/5/0', hex('C3 03 00 00 01'), defaultModel)).toEqual(notOk); // 3-byte integer
    expect(decode(ContentFormat.TLV, '/1/0', hex('C2 06 00 01'), defaultModel)).toEqual(notOk); // 2-byte boolean
    expect(decode(ContentFormat.TLV, '/1/0', hex('C1 06 02'), defaultModel)).toEqual(notOk); // boolean 2
    expect(decode(ContentFormat.TLV, '/1/0', hex('C3 18 00 01 00'), defaultModel)).toEqual(notOk); // 3-byte objlnk
  });

  it('rejects a multiple resource that contains resources, and object instances nested in one another', () => {
    expect(decode(ContentFormat.TLV, '/3/0', hex('83 06 C1 00 01'), defaultModel)).toEqual(notOk);
    expect(decode(ContentFormat.TLV, '/3', hex('08 00 05 08 01 02 C1 00'), defaultModel)).toEqual(notOk);
  });

  it('rejects bad JSON and JSON of the wrong shape', () => {
    const json = (s: string) => Buffer.from(s);
    for (const f of [ContentFormat.SENML_JSON, ContentFormat.LWM2M_JSON]) {
      expect(decode(f, '/3/0', json('[{"bn":"/3/0/",'), defaultModel)).toEqual(notOk);
      expect(decode(f, '/3/0', json('null'), defaultModel)).toEqual(notOk);
      expect(decode(f, '/3/0', json('"x"'), defaultModel)).toEqual(notOk);
    }
    const senml = (s: string) => decode(ContentFormat.SENML_JSON, '/3/0', json(s), defaultModel);
    expect(senml('{"bn":"/3/0/"}')).toEqual(notOk);
    expect(senml('[1]')).toEqual(notOk);
    expect(senml('[{"bn":3,"n":"0","vs":"x"}]')).toEqual(notOk);
    expect(senml('[{"n":"/3/0/0","v":"1"}]')).toEqual(notOk);
    expect(senml('[{"n":"/3/0/0","vb":1}]')).toEqual(notOk);
    expect(senml('[{"n":"/3/0/0","vd":"***"}]')).toEqual(notOk);
    expect(senml('[{"n":"/3/0/24","vlo":"3-0"}]')).toEqual(notOk);
    expect(senml('[{"n":"/3/x/0","v":1}]')).toEqual(notOk);
    expect(senml('[{"n":"/3/0","v":1}]')).toEqual(notOk);
    const lwm2m = (s: string) => decode(ContentFormat.LWM2M_JSON, '/3/0', json(s), defaultModel);
    expect(lwm2m('{"bn":"/3/0/"}')).toEqual(notOk);
    expect(lwm2m('{"bn":"/3/0/","e":[{"n":"9","v":"100"}]}')).toEqual(notOk);
    expect(lwm2m('{"bn":7,"e":[]}')).toEqual(notOk);
  });

  it('rejects bad CBOR and CBOR of the wrong shape', () => {
    for (const bad of [
      '',
      '83 A2',
      'FF',
      '1B 00 00',
      'A1 00 61 30',
      '81 01',
      '81 A1 00 01',
      '81 A2 00 62 2F 33 02 01',
    ]) {
      expect(decode(ContentFormat.SENML_CBOR, '/3/0', hex(bad), defaultModel), bad).toEqual(notOk);
    }
    // trailing bytes after a complete pack
    expect(decode(ContentFormat.SENML_CBOR, '/3/0', hex('80 00'), defaultModel)).toEqual(notOk);
  });

  it('rejects an invalid base path', () => {
    expect(decode(ContentFormat.TLV, '/three', hex('C1 09 64'), defaultModel)).toEqual(notOk);
    expect(decode(ContentFormat.TEXT, 'nope', Buffer.from('1'), defaultModel)).toEqual(notOk);
  });

  it('never throws on random garbage in any format', () => {
    let seed = 12345;
    const byte = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 24;
    };
    for (let n = 0; n < 500; n++) {
      const garbage = Buffer.from(Array.from({ length: n % 64 }, byte));
      for (const f of [...SUPPORTED_FORMATS, ContentFormat.LWM2M_CBOR, ContentFormat.LINK_FORMAT]) {
        for (const base of ['/3/0', '/3', '/3/0/6', '/3/0/13', '/']) {
          const result = decode(f, base, garbage, defaultModel);
          expect(typeof result.ok).toBe('boolean');
        }
      }
    }
  });

  it('rejects bad LwM2M CBOR: not a map, bad keys, values above resource level, paths too deep', () => {
    for (const bad of [
      '80',
      'A1 03',
      'A1 61 33 01',
      'A1 03 A1 00 01',
      'A1 84 03 00 01 02 A1 00 01',
      'A1 21 01',
      'A1 83 03 00 00 A1 F5 01',
    ]) {
      expect(decode(ContentFormat.LWM2M_CBOR, '/3/0', hex(bad), defaultModel), bad).toEqual(notOk);
    }
  });

  it('reports link format as unsupported by the value codec', () => {
    expect(decode(ContentFormat.LINK_FORMAT, '/3/0', Buffer.from('</3/0>'), defaultModel)).toEqual(notOk);
    expect(() => encode(ContentFormat.LINK_FORMAT, '/3/0/0', [{ path: '/3/0/0', value: 'x' }])).toThrow();
  });
});
