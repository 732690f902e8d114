import { describe, expect, it } from 'vitest';
import { encode, type ResourceRecord, type ResourceValue } from '../../controller/lwm2m/codec/index.js';
import { ContentFormat, type ContentFormatId } from '../../controller/lwm2m/content-format.js';
import type { DeviceRow } from '../../controller/store/schema.js';
import { testBackends } from '../helpers/databases.js';
import { type Random, seededRandom, seedFromEnv, sizeFromEnv } from '../reliability/harness/seeded-random.js';
import { uniqueEndpoint } from './helpers.js';
import { type Answer, locationOf } from './support/reporting-device.js';
import { reportingFleet } from './support/reporting-fleet.js';

/**
 * Random registrations and reported values, from raw UDP devices, into both databases: whatever a
 * device sends, the server stays up, every stored value is within its column's range, the server's
 * memory and the rows agree, and a well-behaved device next to them is stored.
 * Replay a failure with OTACTL_VALUE_FUZZ_SEED=<seed>; OTACTL_VALUE_FUZZ_DEVICES sets the count.
 */
const SEED = seedFromEnv('OTACTL_VALUE_FUZZ_SEED', 230_023);
const DEVICES = sizeFromEnv('OTACTL_VALUE_FUZZ_DEVICES', 60);

const FORMATS: readonly ContentFormatId[] = [
  ContentFormat.TEXT,
  ContentFormat.TLV,
  ContentFormat.SENML_JSON,
  ContentFormat.SENML_CBOR,
];
const OBJECT3_PATHS = ['/3/0/0', '/3/0/1', '/3/0/2', '/3/0/3', '/3/0/17', '/3/0/18'];

/** Integers at and around every range a column or the spec has, and a few that are not integers. */
function randomNumber(r: Random): number | bigint | string {
  return r.pick<() => number | bigint | string>([
    () => r.int(0, 3),
    () => r.int(0, 11),
    () => r.int(-3, 14),
    () => r.pick([32_767, 32_768, -32_768, -32_769, 65_535, 70_000, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 40]),
    () => 2n ** 63n - 1n,
    () => -(2n ** 63n),
    () => r.pick([1.5, -0.5, 1e300, 2 ** 53 + 2]),
    () => r.pick(['2', ' 3 ', 'x', '', '1e3']),
  ])();
}

function randomText(r: Random): string | Buffer {
  return r.pick<() => string | Buffer>([
    () => `v${r.int(0, 9)}.${r.int(0, 99)}`,
    () => r.bytes(r.int(0, 40)),
    () => `a\0b`,
    () => 'é🙂\uFEFF',
    () => '\uD800x',
    () => '9'.repeat(r.int(250, 600)),
  ])();
}

/** A value answered in a random content format; the test's own bytes when the codec refuses it. */
function answerFor(r: Random, path: string, value: ResourceValue): Answer {
  const format = r.pick(FORMATS);
  try {
    return { format, payload: encode(format, path, [{ path, value }]) };
  } catch {
    return {
      format: ContentFormat.TEXT,
      payload: Buffer.isBuffer(value) ? value : Buffer.from(String(value)),
    };
  }
}

function multipleAnswer(r: Random, path: string): Answer {
  const records: ResourceRecord[] = [];
  for (let i = r.int(0, 3); i > 0; i--) {
    const value = randomNumber(r);
    records.push({
      path: `${path}/${r.pick([0, 1, 2, 32_767, 32_768, 65_534])}`,
      value: typeof value === 'string' ? 1 : value,
    });
  }
  const format = r.pick([ContentFormat.TLV, ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR]);
  try {
    return { format, payload: encode(format, path, records) };
  } catch {
    return { code: '4.04' };
  }
}

function randomAnswers(r: Random): Record<string, Answer> {
  const answers: Record<string, Answer> = {};
  for (const path of OBJECT3_PATHS) if (r.int(0, 3) > 0) answers[path] = answerFor(r, path, randomText(r));
  for (const path of ['/5/0/3', '/5/0/5', '/5/0/9']) {
    if (r.int(0, 5) > 0) answers[path] = answerFor(r, path, randomNumber(r));
  }
  answers['/5/0/8'] = multipleAnswer(r, '/5/0/8');
  return answers;
}

/** Mostly a valid value, now and then an edge case or random bytes. */
function queryValue(
  r: Random,
  name: string,
  valid: readonly string[],
  hostile: readonly string[],
): string | Buffer {
  const roll = r.int(0, 7);
  if (roll === 0) return Buffer.concat([Buffer.from(`${name}=`), r.bytes(r.int(0, 8))]);
  return `${name}=${roll === 1 ? r.pick(hostile) : r.pick(valid)}`;
}

const LIFETIME: readonly [string[], string[]] = [
  ['60', '86400', '1', '2147483647', '2147483648', '4294967295'],
  ['0', '4294967296', '99999999999', '-1', '1.5', 'x', ''],
];
const VERSION: readonly [string[], string[]] = [
  ['1.0', '1.1', '1.2'],
  ['2.0', '', '1'],
];
const BINDING: readonly [string[], string[]] = [
  ['U', 'UQ', 'S'],
  ['X', '', 'u'],
];
const SMS: readonly [string[], string[]] = [['+15550100', ''], ['a\0']];

function randomRegisterQuery(r: Random, ep: string): (string | Buffer)[] {
  const hostileName = r.pick([Buffer.from([0]), Buffer.from([0xff]), Buffer.from([0xed, 0xa0, 0x80])]);
  const query: (string | Buffer)[] = [
    r.int(0, 7) > 0 ? `ep=${ep}` : Buffer.concat([Buffer.from(`ep=${ep}`), hostileName]),
  ];
  if (r.int(0, 1)) query.push(queryValue(r, 'lt', ...LIFETIME));
  if (r.int(0, 1)) query.push(queryValue(r, 'lwm2m', ...VERSION));
  if (r.int(0, 1)) query.push(queryValue(r, 'b', ...BINDING));
  if (r.int(0, 2) === 0) query.push(queryValue(r, 'sms', ...SMS));
  if (r.int(0, 3) === 0) query.push('Q');
  return query;
}

function randomLinks(r: Random): string | Buffer {
  return r.pick<() => string | Buffer>([
    () => '</1/0>,</3/0>,</5/0>',
    () => '</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5/0>',
    () => '</1/0>,</3/0>,</5/0>',
    () => Buffer.concat([Buffer.from('</3/0>,</5/0>'), r.bytes(r.int(1, 6))]),
  ])();
}

/** The range checks of every column a device's values reach. */
function outOfRange(row: DeviceRow): string[] {
  const bad: string[] = [];
  const within = (name: string, v: number | null, min: number, max: number) => {
    if (v !== null && !(Number.isInteger(v) && v >= min && v <= max)) bad.push(`${name}=${v}`);
  };
  within('lifetime_s', row.lifetime_s, 1, 2 ** 31 - 1);
  within('fw_state', row.fw_state, 0, 3);
  within('fw_result', row.fw_result, 0, 11);
  within('fw_delivery_method', row.fw_delivery_method, 0, 2);
  for (const p of row.fw_protocol_support ?? []) within('fw_protocol_support', p, 0, 5);
  if (row.fw_state !== null && row.fw_state_raw !== null) bad.push('fw_state and fw_state_raw');
  if (row.fw_result !== null && row.fw_result_raw !== null) bad.push('fw_result and fw_result_raw');
  const texts = {
    manufacturer: row.manufacturer,
    model: row.model,
    serial_number: row.serial_number,
    firmware_version: row.firmware_version,
    hardware_version: row.hardware_version,
    device_type: row.device_type,
  };
  for (const [name, v] of Object.entries(texts)) {
    if (v !== null && (v.length > 255 || /[\0\uFFFD]|[\uD800-\uDFFF]/u.test(v)))
      bad.push(`${name}=${JSON.stringify(v)}`);
  }
  return bad.map((b) => `${row.endpoint}: ${b}`);
}

describe.each(testBackends)('value fuzz ($name)', (backend) => {
  const fleet = reportingFleet(backend);
  const open = fleet.open;

  async function wellBehavedStored(): Promise<void> {
    const ep = uniqueEndpoint('good');
    const good = await open({
      '/3/0/1': { format: ContentFormat.TEXT, payload: Buffer.from('M1') },
      '/5/0/3': { format: ContentFormat.TEXT, payload: Buffer.from('1') },
      '/5/0/5': { format: ContentFormat.TEXT, payload: Buffer.from('0') },
    });
    expect((await good.register([`ep=${ep}`, 'lwm2m=1.1', 'b=U'])).code).toBe('2.01');
    await fleet.rowWhen(ep, (row) => row.model === 'M1' && row.fw_state === 1 && row.fw_result === 0);
  }

  it(`seed ${SEED}: random registrations and reports keep the server up, every column in range, memory and rows in agreement`, async () => {
    const r = seededRandom(SEED);
    await wellBehavedStored();
    for (let i = 0; i < DEVICES; i++) {
      const d = await open(randomAnswers(r));
      const ep = `fz${i}-${r.pick(['', 'é', '🙂', ' ', '%00'])}${uniqueEndpoint('v')}`;
      const answer = await d.register(randomRegisterQuery(r, ep), randomLinks(r));
      expect(['2.01', '4.00', '4.12']).toContain(answer.code);
      if (answer.code === '2.01' && r.int(0, 1)) {
        const id = locationOf(answer)[1]!;
        const query = [
          queryValue(r, 'lt', ...LIFETIME),
          ...(r.int(0, 1) ? [queryValue(r, 'b', ...BINDING)] : []),
        ];
        const update = await d.update(
          r.int(0, 5) > 0 ? id : Buffer.from([0xff]),
          query,
          r.int(0, 1) ? randomLinks(r) : undefined,
        );
        expect(['2.04', '4.00', '4.04']).toContain(update.code);
      }
    }
    await wellBehavedStored();
    await fleet.env.statsWhen(
      ({ interrogations }) => interrogations.running === 0 && interrogations.waiting === 0,
    );
    await fleet.env.sync.flush();

    const rows = await fleet.env.db.db.selectFrom('devices').selectAll().execute();
    expect(rows.flatMap(outOfRange)).toEqual([]);
    const byEndpoint = new Map(rows.map((row) => [row.endpoint, row]));
    const mismatches: string[] = [];
    for (const reg of fleet.env.server.registrations()) {
      const row = byEndpoint.get(reg.endpoint);
      const stored = row && {
        id: row.registration_id,
        lifetime: row.lifetime_s,
        binding: row.binding,
        queueMode: row.queue_mode,
        sms: row.sms_number ?? undefined,
        links: row.object_links,
        version: row.lwm2m_version,
      };
      const held = {
        id: reg.id,
        lifetime: reg.lifetime,
        binding: reg.binding,
        queueMode: reg.queueMode,
        sms: reg.sms,
        links: reg.links,
        version: reg.lwm2mVersion,
      };
      if (JSON.stringify(stored) !== JSON.stringify(held)) {
        mismatches.push(
          `${JSON.stringify(reg.endpoint)}: memory ${JSON.stringify(held)} row ${JSON.stringify(stored)}`,
        );
      }
    }
    expect(mismatches).toEqual([]);
    const registeredRows = rows.filter((row) => row.registration_state === 'registered').length;
    expect(registeredRows).toBe([...fleet.env.server.registrations()].length);
    expect(fleet.env.errors).toEqual([]);
    // The run reached the columns it is about (so a change of the generators cannot make it vacuous).
    expect(rows.filter((row) => row.registration_state === 'registered').length).toBeGreaterThan(DEVICES / 4);
    expect(rows.some((row) => row.fw_state_raw !== null || row.fw_result_raw !== null)).toBe(true);
    expect(rows.some((row) => row.fw_state !== null && !row.endpoint.startsWith('good'))).toBe(true);
  });
});
