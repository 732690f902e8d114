import { describe, expect, it } from 'vitest';
import { decode, encode, objectLink, type ResourceRecord } from '../../../controller/lwm2m/codec/index.js';
import {
  decodeTlvValue,
  encodeTlvValue,
  readTlvs,
  TlvKind,
  writeTlv,
} from '../../../controller/lwm2m/codec/tlv.js';
import { ContentFormat } from '../../../controller/lwm2m/content-format.js';
import { createObjectModel, defaultModel } from '../../../controller/lwm2m/model/index.js';
import { deviceRecords } from './device-records.js';
import { hex } from './hex.js';

const TLV = ContentFormat.TLV;

// Type byte: bits 7-6 = 11 resource / 10 multiple resource / 01 resource instance / 00 object instance,
// bit 5 = 16-bit identifier, bits 4-3 = length field size (0 = length in bits 2-0, 1/2/3 = bytes).

/** OMA LwM2M TS 1.0/1.1 "Single Object Instance" Read of the Device object (/3/0) in TLV. */
const deviceObjectTlv = hex(`
  C8 00 14                # resource 0, 8-bit length 0x14 = 20
  4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65   # "Open Mobile Alliance"
  C8 01 16                # resource 1, length 22
  4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74   # "Lightweight M2M Client"
  C8 02 09 33 34 35 30 30 30 31 32 33   # resource 2, length 9, "345000123"
  C3 03 31 2E 30          # resource 3, length 3 in the type byte, "1.0"
  86 06                   # multiple resource 6 (Available Power Sources), 6 bytes follow
     41 00 01             #   instance 0 = 1 (Li-Ion... per object 3 enumeration)
     41 01 05             #   instance 1 = 5 (USB)
  88 07 08                # multiple resource 7 (Power Source Voltage), 8-bit length 8
     42 00 0E D8          #   instance 0 = 3800 (2-byte integer)
     42 01 13 88          #   instance 1 = 5000
  87 08                   # multiple resource 8 (Power Source Current), 7 bytes
     41 00 7D             #   instance 0 = 125
     42 01 03 84          #   instance 1 = 900
  C1 09 64                # resource 9 Battery Level = 100
  C1 0A 0F                # resource 10 Memory Free = 15
  83 0B                   # multiple resource 11 Error Code, 3 bytes
     41 00 00             #   instance 0 = 0
  C4 0D 51 82 42 8F       # resource 13 Current Time = 1367491215 (4-byte integer)
  C6 0E 2B 30 32 3A 30 30 # resource 14 UTC Offset = "+02:00"
  C1 10 55                # resource 16 Supported Binding = "U"
`);

/** OMA LwM2M TS 1.0 "Multiple Object Instance" Read of the Access Control object (/2), two instances. */
const accessControlTlv = hex(`
  08 00 0E                # object instance 0, 8-bit length 14
     C1 00 01             #   resource 0 Object ID = 1
     C1 01 00             #   resource 1 Object Instance ID = 0
     83 02 41 7F 07       #   multiple resource 2 ACL: instance 127 = 7
     C1 03 7F             #   resource 3 Access Control Owner = 127
  08 02 12                # object instance 2, length 18
     C1 00 03             #   Object ID = 3
     C1 01 00             #   Object Instance ID = 0
     87 02                #   multiple resource 2 ACL, 7 bytes
        41 7F 07          #     instance 127 = 7
        61 01 36 01       #     0x61: resource instance with 16-bit id 0x0136 = 310, value 1
     C1 03 7F             #   Access Control Owner = 127
`);

const accessControlModel = createObjectModel([
  {
    id: 2,
    name: 'LwM2M Access Control',
    urn: 'urn:oma:lwm2m:oma:2',
    version: '1.0',
    lwm2mVersion: '1.0',
    multiple: true,
    mandatory: false,
    resources: [
      { id: 0, name: 'Object ID', operations: 'R', multiple: false, mandatory: true, type: 'integer' },
      {
        id: 1,
        name: 'Object Instance ID',
        operations: 'R',
        multiple: false,
        mandatory: true,
        type: 'integer',
      },
      { id: 2, name: 'ACL', operations: 'RW', multiple: true, mandatory: false, type: 'integer' },
      {
        id: 3,
        name: 'Access Control Owner',
        operations: 'RW',
        multiple: false,
        mandatory: true,
        type: 'integer',
      },
    ],
  },
]);

const accessControlRecords: ResourceRecord[] = [
  { path: '/2/0/0', value: 1 },
  { path: '/2/0/1', value: 0 },
  { path: '/2/0/2/127', value: 7 },
  { path: '/2/0/3', value: 127 },
  { path: '/2/2/0', value: 3 },
  { path: '/2/2/1', value: 0 },
  { path: '/2/2/2/127', value: 7 },
  { path: '/2/2/2/310', value: 1 },
  { path: '/2/2/3', value: 127 },
];

describe('TLV (11542) against the worked examples of the OMA specification', () => {
  it('encodes the Device object instance example byte for byte', () => {
    expect(encode(TLV, '/3/0', deviceRecords, defaultModel).toString('hex')).toBe(
      deviceObjectTlv.toString('hex'),
    );
  });

  it('decodes the Device object instance example with values typed by the model', () => {
    expect(decode(TLV, '/3/0', deviceObjectTlv, defaultModel)).toEqual({ ok: true, records: deviceRecords });
  });

  it('encodes and decodes several object instances with 16-bit resource instance ids', () => {
    expect(encode(TLV, '/2', accessControlRecords, accessControlModel)).toEqual(accessControlTlv);
    expect(decode(TLV, '/2', accessControlTlv, accessControlModel)).toEqual({
      ok: true,
      records: accessControlRecords,
    });
  });

  it('reads a multiple resource (/3/0/6) as a multiple-resource TLV wrapping its instances', () => {
    const bytes = hex('86 06 41 00 01 41 01 05');
    const records = [
      { path: '/3/0/6/0', value: 1 },
      { path: '/3/0/6/1', value: 5 },
    ];
    expect(encode(TLV, '/3/0/6', records, defaultModel)).toEqual(bytes);
    expect(decode(TLV, '/3/0/6', bytes, defaultModel)).toEqual({ ok: true, records });
  });

  it('reads a single resource (/3/0/0) as one resource TLV', () => {
    const bytes = hex('C8 00 14 4F70656E204D6F62696C6520416C6C69616E6365');
    expect(encode(TLV, '/3/0/0', [{ path: '/3/0/0', value: 'Open Mobile Alliance' }], defaultModel)).toEqual(
      bytes,
    );
  });

  it('reads a single resource instance as one resource-instance TLV', () => {
    const bytes = hex('42 01 13 88'); // resource instance 1, length 2, 5000
    expect(encode(TLV, '/3/0/7/1', [{ path: '/3/0/7/1', value: 5000 }], defaultModel)).toEqual(bytes);
    expect(decode(TLV, '/3/0/7/1', bytes, defaultModel)).toEqual({
      ok: true,
      records: [{ path: '/3/0/7/1', value: 5000 }],
    });
  });
});

describe('TLV length and identifier forms', () => {
  it('uses the 3-bit length up to 7 bytes and an 8-bit length from 8 bytes', () => {
    expect(writeTlv(TlvKind.RESOURCE, 1, Buffer.alloc(7, 0x61))).toEqual(hex('C7 01' + ' 61'.repeat(7)));
    expect(writeTlv(TlvKind.RESOURCE, 1, Buffer.alloc(8, 0x61))).toEqual(hex('C8 01 08' + ' 61'.repeat(8)));
  });

  it('uses a 16-bit length from 256 bytes (type 0xD0)', () => {
    const out = writeTlv(TlvKind.RESOURCE, 0, Buffer.alloc(256, 0x62));
    expect(out.subarray(0, 4)).toEqual(hex('D0 00 01 00')); // 110 1 0 000: resource, 16-bit length 0x0100
    expect(out.length).toBe(4 + 256);
  });

  it('uses a 24-bit length from 65536 bytes (type 0xD8)', () => {
    const out = writeTlv(TlvKind.RESOURCE, 0, Buffer.alloc(65536, 0x63));
    expect(out.subarray(0, 5)).toEqual(hex('D8 00 01 00 00')); // 11 0 11 000: 24-bit length 0x010000
    const back = readTlvs(out);
    expect(back.ok && back.entries[0]?.value.length).toBe(65536);
  });

  it('uses a 16-bit identifier above 255 (bit 5)', () => {
    expect(writeTlv(TlvKind.RESOURCE, 0x1234, Buffer.from([1]))).toEqual(hex('E1 12 34 01'));
    expect(writeTlv(TlvKind.OBJECT_INSTANCE, 300, Buffer.alloc(0))).toEqual(hex('20 01 2C'));
  });

  it('round-trips a 70 KB opaque firmware package written to /5/0/0', () => {
    const pkg = Buffer.alloc(70_000);
    for (let i = 0; i < pkg.length; i++) pkg[i] = (i * 31) & 0xff;
    const bytes = encode(TLV, '/5/0/0', [{ path: '/5/0/0', value: pkg }], defaultModel);
    expect(bytes.subarray(0, 5)).toEqual(hex('D8 00 01 11 70')); // 70000 = 0x011170
    expect(decode(TLV, '/5/0/0', bytes, defaultModel)).toEqual({
      ok: true,
      records: [{ path: '/5/0/0', value: pkg }],
    });
  });
});

describe('TLV values by data type', () => {
  const cases: [
    string,
    Parameters<typeof encodeTlvValue>[0],
    Parameters<typeof encodeTlvValue>[1],
    string,
  ][] = [
    ['integer in 1 byte', 'integer', 100, '64'],
    ['negative integer in 1 byte', 'integer', -1, 'FF'],
    ['integer -128 in 1 byte', 'integer', -128, '80'],
    ['integer 128 in 2 bytes', 'integer', 128, '0080'],
    ['integer -129 in 2 bytes', 'integer', -129, 'FF7F'],
    ['integer in 4 bytes', 'integer', 1367491215, '5182428F'],
    ['integer -2^31 in 4 bytes', 'integer', -(2 ** 31), '80000000'],
    ['integer 2^31 in 8 bytes', 'integer', 2 ** 31, '0000000080000000'],
    ['integer 2^63-1 in 8 bytes', 'integer', 2n ** 63n - 1n, '7FFFFFFFFFFFFFFF'],
    ['integer -2^63 in 8 bytes', 'integer', -(2n ** 63n), '8000000000000000'],
    ['unsigned 255 in 1 byte', 'unsignedInteger', 255, 'FF'],
    ['unsigned 65535 in 2 bytes', 'unsignedInteger', 65535, 'FFFF'],
    ['unsigned 2^32-1 in 4 bytes', 'unsignedInteger', 2 ** 32 - 1, 'FFFFFFFF'],
    ['unsigned 2^64-1 in 8 bytes', 'unsignedInteger', 2n ** 64n - 1n, 'FFFFFFFFFFFFFFFF'],
    ['float exactly representable in 4 bytes', 'float', 1.5, '3FC00000'],
    ['float needing 8 bytes', 'float', 0.1, '3FB999999999999A'],
    ['boolean true', 'boolean', true, '01'],
    ['boolean false', 'boolean', false, '00'],
    ['time as seconds since 1970', 'time', new Date(1367491215 * 1000), '5182428F'],
    ['objlnk 3:0', 'objlnk', objectLink(3, 0), '00030000'],
    ['objlnk 65535:65535 (null link)', 'objlnk', objectLink(65535, 65535), 'FFFFFFFF'],
    ['string as UTF-8', 'string', 'né', '6EC3A9'],
    ['opaque as is', 'opaque', Buffer.from([0, 1, 0xfe]), '0001FE'],
  ];
  for (const [name, type, value, bytes] of cases) {
    it(`encodes and decodes ${name}`, () => {
      expect(encodeTlvValue(type, value).toString('hex').toUpperCase()).toBe(bytes);
      const back = decodeTlvValue(type, Buffer.from(bytes, 'hex'));
      const expected =
        typeof value === 'bigint' && Number.isSafeInteger(Number(value)) ? Number(value) : value;
      expect(back).toEqual({ ok: true, value: expected });
    });
  }

  it('decodes 4-byte floats as written (3FC00000 → 1.5) and 8-byte doubles', () => {
    expect(decodeTlvValue('float', hex('40 49 0F DB'))).toEqual({ ok: true, value: Math.fround(Math.PI) });
    expect(decodeTlvValue('float', hex('40 09 21 FB 54 44 2D 18'))).toEqual({ ok: true, value: Math.PI });
  });

  it('decodes values of resources the model does not know as Buffers', () => {
    const bytes = hex('C2 05 01 02 C1 09 64'); // /3/0/5 is executable (no type); /3/0/9 is an integer
    expect(decode(TLV, '/3/0', bytes, defaultModel)).toEqual({
      ok: true,
      records: [
        { path: '/3/0/5', value: Buffer.from([1, 2]) },
        { path: '/3/0/9', value: 100 },
      ],
    });
    expect(decode(TLV, '/3/0', bytes)).toEqual({
      ok: true,
      records: [
        { path: '/3/0/5', value: Buffer.from([1, 2]) },
        { path: '/3/0/9', value: Buffer.from([100]) },
      ],
    });
  });

  it('writes a value as its model type, not its JavaScript type', () => {
    // 5/0/3 State is an integer; 3/0/13 Current Time a time; 3/0/0 a string.
    const records = [
      { path: '/5/0/3', value: '2' },
      { path: '/5/0/5', value: 1n },
    ];
    expect(encode(TLV, '/5/0', records, defaultModel)).toEqual(hex('C1 03 02 C1 05 01'));
  });

  it('accepts an object read answered without the object-instance wrapper (instance 0 assumed)', () => {
    expect(decode(TLV, '/3', hex('C1 09 64'), defaultModel)).toEqual({
      ok: true,
      records: [{ path: '/3/0/9', value: 100 }],
    });
  });

  it('decodes an empty payload to no records', () => {
    expect(decode(TLV, '/3/0', Buffer.alloc(0), defaultModel)).toEqual({ ok: true, records: [] });
  });
});
