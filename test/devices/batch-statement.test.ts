import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchWriteStatement } from '../../controller/devices/batch-statement.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';

const T = new Date('2030-01-02T03:04:05.678Z');
const LATER = new Date('2030-01-02T04:00:00.000Z');

describe.each(testBackends)('one statement per device batch ($name)', (backend) => {
  let db: OpenDatabase;
  beforeAll(async () => {
    db = await backend.open();
  });
  afterAll(async () => {
    await db.close();
  });

  const row = (endpoint: string) =>
    db.db.selectFrom('devices').selectAll().where('endpoint', '=', endpoint).executeTakeFirstOrThrow();
  const events = (endpoint: string) =>
    db.db.selectFrom('events').selectAll().where('endpoint', '=', endpoint).orderBy('id').execute();

  it('stores every column and event field as given, whatever characters the text holds', async () => {
    const awkward = 'a"b,c\\d{e} NULL ü 😀';
    const statement = batchWriteStatement(
      [
        {
          endpoint: awkward,
          registration_id: 'r1',
          registration_state: 'registered',
          address: '::1',
          port: 5683,
          lifetime_s: 86_400,
          binding: 'UQ',
          queue_mode: true,
          lwm2m_version: '1.1',
          sms_number: null,
          object_links: '</>;rt="oma.lwm2m";ct=110,</1/0>',
          registered_at: T,
          last_seen_at: T,
          expires_at: LATER,
          updated_at: T,
        },
        {
          endpoint: 'NULL',
          manufacturer: 'NULL',
          fw_protocol_support: [0, 2],
          fw_delivery_method: 2,
          fw_state: 1,
          fw_result: 0,
          fw_reported_at: T,
          updated_at: T,
        },
        { endpoint: 'no-protocols', fw_protocol_support: [], fw_state: 0, updated_at: T },
      ],
      [
        {
          at: T,
          endpoint: awkward,
          type: 'DeviceRegistered',
          message: 'registered "here", {there}',
          details: JSON.stringify({ quote: 'x"y', n: 1 }),
        },
        { endpoint: 'NULL', type: 'Other', message: 'no time, no details' },
      ],
    );
    await db.db.executeQuery(statement!);

    expect(await row(awkward)).toMatchObject({
      registration_id: 'r1',
      registration_state: 'registered',
      address: '::1',
      port: 5683,
      lifetime_s: 86_400,
      binding: 'UQ',
      queue_mode: true,
      lwm2m_version: '1.1',
      sms_number: null,
      object_links: '</>;rt="oma.lwm2m";ct=110,</1/0>',
      registered_at: T,
      last_seen_at: T,
      expires_at: LATER,
      updated_at: T,
      manufacturer: null,
    });
    expect(await row('NULL')).toMatchObject({
      manufacturer: 'NULL',
      fw_protocol_support: [0, 2],
      fw_delivery_method: 2,
      fw_state: 1,
      fw_result: 0,
      registration_id: null,
    });
    expect((await row('no-protocols')).fw_protocol_support).toEqual([]);
    expect(await events(awkward)).toMatchObject([
      {
        at: T,
        type: 'DeviceRegistered',
        message: 'registered "here", {there}',
        details: { quote: 'x"y', n: 1 },
      },
    ]);
    const [defaulted] = await events('NULL');
    expect(defaulted).toMatchObject({ type: 'Other', details: {} });
    expect(defaulted!.at).toBeInstanceOf(Date);
  });

  it('updates only the columns a patch sets', async () => {
    await db.db.executeQuery(
      batchWriteStatement(
        [{ endpoint: 'partial', model: 'M1', firmware_version: '1.0', updated_at: T }],
        [],
      )!,
    );
    await db.db.executeQuery(
      batchWriteStatement([{ endpoint: 'partial', fw_state: 3, updated_at: LATER }], [])!,
    );
    expect(await row('partial')).toMatchObject({
      model: 'M1',
      firmware_version: '1.0',
      fw_state: 3,
      updated_at: LATER,
    });
  });

  it('appends FirmwareVersionChanged only where the stored version moves', async () => {
    await db.db.executeQuery(
      batchWriteStatement(
        [
          { endpoint: 'v-moves', firmware_version: '1.0', updated_at: T },
          { endpoint: 'v-same', firmware_version: '1.0', updated_at: T },
          { endpoint: 'v-unknown', model: 'M', updated_at: T },
        ],
        [],
      )!,
    );
    const versions = (v: string) => [
      { endpoint: 'v-moves', firmware_version: v, updated_at: LATER },
      { endpoint: 'v-same', firmware_version: '1.0', updated_at: LATER },
      { endpoint: 'v-unknown', firmware_version: v, updated_at: LATER },
      { endpoint: 'v-new', firmware_version: v, updated_at: LATER },
    ];
    const checks = versions('2.0').map((p) => ({ endpoint: p.endpoint, version: p.firmware_version }));
    await db.db.executeQuery(batchWriteStatement(versions('2.0'), [], checks, LATER)!);

    expect(await events('v-moves')).toMatchObject([
      {
        at: LATER,
        type: 'FirmwareVersionChanged',
        message: 'firmware version changed from 1.0 to 2.0',
        details: { from: '1.0', to: '2.0' },
      },
    ]);
    expect(await events('v-same')).toEqual([]);
    expect(await events('v-unknown')).toEqual([]);
    expect(await events('v-new')).toEqual([]);
    expect((await row('v-moves')).firmware_version).toBe('2.0');
  });

  it('stores text with NUL or a lone surrogate (as U+FFFD) instead of failing the whole batch', async () => {
    await db.db.executeQuery(
      batchWriteStatement(
        [
          { endpoint: 'odd-text', manufacturer: 'nul\u0000 lone\udc00 pair😀', updated_at: T },
          { endpoint: 'plain-text', manufacturer: 'fine', updated_at: T },
        ],
        [
          {
            endpoint: 'odd-text',
            type: 'Other',
            message: 'm\u0000',
            details: JSON.stringify({ s: '\ud800' }),
          },
        ],
      )!,
    );
    expect((await row('odd-text')).manufacturer).toBe('nul\uFFFD lone\uFFFD pair😀');
    expect((await row('plain-text')).manufacturer).toBe('fine');
    expect(await events('odd-text')).toMatchObject([{ message: 'm\uFFFD', details: { s: '\uFFFD' } }]);
  });

  it('keeps every timestamp to the millisecond, given as a date or as ISO text', async () => {
    // Milliseconds spread over 1970-2200, each an awkward fraction in binary.
    const times = Array.from({ length: 300 }, (_, i) => new Date(i * 24_456_789_123 + (i % 1000)));
    await db.db.executeQuery(
      batchWriteStatement(
        times.map((t, i) => ({
          endpoint: `time-${i}`,
          last_seen_at: t,
          expires_at: t.toISOString(),
          updated_at: t,
        })),
        times.map((t, i) => ({ at: t, endpoint: `time-${i}`, type: 'T', message: 'm' })),
      )!,
    );
    const rows = await db.db
      .selectFrom('devices')
      .select(['endpoint', 'last_seen_at', 'expires_at'])
      .where('endpoint', 'like', 'time-%')
      .execute();
    const stored = await db.db
      .selectFrom('events')
      .select(['endpoint', 'at'])
      .where('endpoint', 'like', 'time-%')
      .execute();
    expect(rows).toHaveLength(times.length);
    for (const r of rows) {
      const t = times[Number(r.endpoint.slice(5))]!;
      expect([r.last_seen_at?.getTime(), r.expires_at?.getTime()]).toEqual([t.getTime(), t.getTime()]);
    }
    for (const e of stored) expect(e.at.getTime()).toBe(times[Number(e.endpoint!.slice(5))]!.getTime());
  });

  it('writes nothing for an empty batch', () => {
    expect(batchWriteStatement([], [])).toBeUndefined();
  });
});
