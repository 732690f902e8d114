import { describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  objectLink,
  type ResourceRecord,
  type ResourceValue,
} from '../../../controller/lwm2m/codec/index.js';
import { ContentFormat, type ContentFormatId } from '../../../controller/lwm2m/content-format.js';
import {
  createObjectModel,
  defaultModel,
  type ObjectModel,
  RESOURCE_TYPES,
  type ResourceType,
} from '../../../controller/lwm2m/model/index.js';

/** Deterministic PRNG (mulberry32) so a failure names a seed that reproduces it. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof rng>;

const STRINGS = ['', 'U', '1.0', 'Open Mobile Alliance', 'a,b;c="d"', 'née ünïcødé ✓ 🚀', '\\/\n\t', '0'];
const INTEGERS = [0, 1, -1, 127, 128, -128, -129, 32767, 32768, -32769, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1];
const BIG_INTEGERS = [2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n];
const UNSIGNED = [0, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];

/** A random value of a type. JSON formats cannot carry integers beyond 2^53 exactly through JSON.parse. */
function randomValue(type: ResourceType, r: Rng, json: boolean): ResourceValue {
  switch (type) {
    case 'string':
    case 'corelnk':
      return r.next() < 0.5
        ? r.pick(STRINGS)
        : String.fromCodePoint(...Array.from({ length: r.int(0, 40) }, () => r.int(32, 0x2fff)));
    case 'integer': {
      const x = r.next();
      if (x < 0.3) return r.pick(INTEGERS);
      if (x < 0.4 && !json) return r.pick(BIG_INTEGERS);
      return r.int(-(2 ** 40), 2 ** 40);
    }
    case 'unsignedInteger':
      if (!json && r.next() < 0.1) return 2n ** 64n - 1n;
      return r.next() < 0.4 ? r.pick(UNSIGNED) : r.int(0, 2 ** 48);
    case 'float': {
      const x = r.next();
      if (x < 0.3) return r.pick([0, 1.5, 0.1, -2.75, 1e300, -1e-300, 3.4e38]);
      if (x < 0.5) return Math.fround((r.next() - 0.5) * 1e6);
      return (r.next() - 0.5) * 10 ** r.int(-20, 20);
    }
    case 'boolean':
      return r.next() < 0.5;
    case 'opaque':
      return Buffer.from(Array.from({ length: r.int(0, 300) }, () => r.int(0, 255)));
    case 'time':
      return new Date(r.int(-(2 ** 31), 2 ** 33) * 1000);
    case 'objlnk':
      return objectLink(r.pick([0, 3, 65535, r.int(0, 65535)]), r.pick([0, 65535, r.int(0, 65535)]));
    default:
      throw new Error(`no values for ${type}`);
  }
}

/** What a decoder returns for a value: integers that fit a JS number come back as numbers. */
function normalize(v: ResourceValue): ResourceValue {
  return typeof v === 'bigint' && Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

/** Every resource with a value type of an object instance, multiple resources with 1-3 instances. */
function instanceRecords(model: ObjectModel, objectId: number, r: Rng, json: boolean): ResourceRecord[] {
  const def = model.object(objectId)!;
  const out: ResourceRecord[] = [];
  for (const res of def.resources) {
    if (res.type === 'none') continue;
    if (!res.multiple) {
      out.push({ path: `/${objectId}/0/${res.id}`, value: randomValue(res.type, r, json) });
      continue;
    }
    const ids = new Set(Array.from({ length: r.int(1, 3) }, () => r.pick([0, 1, 2, 7, 255, 256, 1000])));
    for (const id of [...ids].sort((a, b) => a - b)) {
      out.push({ path: `/${objectId}/0/${res.id}/${id}`, value: randomValue(res.type, r, json) });
    }
  }
  return out;
}

const allTypesModel = createObjectModel([
  {
    id: 42000,
    name: 'Every type',
    urn: 'urn:test:42000',
    version: '1.0',
    lwm2mVersion: '1.1',
    multiple: false,
    mandatory: false,
    resources: RESOURCE_TYPES.filter((t) => t !== 'none').flatMap((type, i) => [
      { id: i, name: type, operations: 'RW' as const, multiple: false, mandatory: false, type },
      { id: 100 + i, name: `${type}s`, operations: 'RW' as const, multiple: true, mandatory: false, type },
    ]),
  },
]);

const FORMATS: readonly [string, ContentFormatId][] = [
  ['TLV', ContentFormat.TLV],
  ['SenML JSON', ContentFormat.SENML_JSON],
  ['SenML CBOR', ContentFormat.SENML_CBOR],
  ['LwM2M JSON', ContentFormat.LWM2M_JSON],
  ['LwM2M CBOR', ContentFormat.LWM2M_CBOR],
];
const isJson = (f: ContentFormatId) => f === ContentFormat.SENML_JSON || f === ContentFormat.LWM2M_JSON;
const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);

const cases: [string, ObjectModel, number][] = [
  ['Device (3)', defaultModel, 3],
  ['Firmware Update (5)', defaultModel, 5],
  ['an object with every data type', allTypesModel, 42000],
];

describe.each(FORMATS)('%s round trip', (_name, format) => {
  for (const [label, model, objectId] of cases) {
    it(`decodes what it encodes for every resource of ${label} as an instance`, () => {
      for (const seed of SEEDS) {
        const records = instanceRecords(model, objectId, rng(seed), isJson(format));
        const bytes = encode(format, `/${objectId}/0`, records, model);
        const back = decode(format, `/${objectId}/0`, bytes, model);
        expect(back, `seed ${seed}`).toEqual({
          ok: true,
          records: records.map((rec) => ({ path: rec.path, value: normalize(rec.value) })),
        });
      }
    });

    it(`decodes what it encodes for each resource of ${label} read on its own`, () => {
      const records = instanceRecords(model, objectId, rng(7), isJson(format));
      const byResource = new Map<string, ResourceRecord[]>();
      for (const rec of records) {
        const base = rec.path.split('/').slice(0, 4).join('/');
        byResource.set(base, [...(byResource.get(base) ?? []), rec]);
      }
      for (const [base, recs] of byResource) {
        const back = decode(format, base, encode(format, base, recs, model), model);
        expect(back, base).toEqual({
          ok: true,
          records: recs.map((rec) => ({ ...rec, value: normalize(rec.value) })),
        });
      }
    });
  }

  it('decodes what it encodes for two object instances at an object path', () => {
    const r = rng(99);
    const records = [
      ...instanceRecords(defaultModel, 3, r, isJson(format)),
      ...instanceRecords(defaultModel, 3, r, isJson(format)).map((rec) => ({
        ...rec,
        path: rec.path.replace('/3/0/', '/3/1/'),
      })),
    ];
    const back = decode(format, '/3', encode(format, '/3', records, defaultModel), defaultModel);
    expect(back).toEqual({
      ok: true,
      records: records.map((rec) => ({ ...rec, value: normalize(rec.value) })),
    });
  });
});

describe('text/plain round trip', () => {
  for (const [label, model, objectId] of cases) {
    it(`decodes what it encodes for every single resource of ${label}`, () => {
      for (const seed of SEEDS.slice(0, 10)) {
        for (const rec of instanceRecords(model, objectId, rng(seed), false)) {
          const bytes = encode(ContentFormat.TEXT, rec.path, [rec], model);
          expect(decode(ContentFormat.TEXT, rec.path, bytes, model), `${rec.path} seed ${seed}`).toEqual({
            ok: true,
            records: [{ path: rec.path, value: normalize(rec.value) }],
          });
        }
      }
    });
  }
});
