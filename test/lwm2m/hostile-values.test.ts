import { describe, expect, it } from 'vitest';
import { toDeviceView } from '../../controller/api/read-model/to-view.js';
import { ContentFormat } from '../../controller/lwm2m/content-format.js';
import type { DeviceRow } from '../../controller/store/schema.js';
import { uniqueEndpoint } from '../devices/helpers.js';
import { type Answer, locationOf, type ReportingDevice } from '../devices/support/reporting-device.js';
import { reportingFleet } from '../devices/support/reporting-fleet.js';
import { testBackends } from '../helpers/databases.js';

/**
 * One hostile value from one device, each found to stop every device's writes (or to store
 * something other than what the server holds): registration parameters and names refused or
 * normalised at the edge, object 5 codes outside the spec kept as "unknown code N".
 */

const text = (s: string): Answer => ({ format: ContentFormat.TEXT, payload: Buffer.from(s) });
const OBJECT3 = { '/3/0/1': text('M1'), '/3/0/3': text('1.0.0') };

/** A TLV resource (8-bit id, 8-bit length) holding `value` as a big-endian integer of `bytes` bytes. */
function tlvInteger(id: number, value: bigint, bytes: number): Buffer {
  const v = Buffer.alloc(8);
  v.writeBigInt64BE(value);
  return Buffer.concat([Buffer.from([0xc8, id, bytes]), v.subarray(8 - bytes)]);
}

/** A TLV multiple resource whose instances ([16-bit id, value]) hold two-byte integers. */
function tlvMultiple(id: number, instances: readonly [number, number][]): Buffer {
  const inner = Buffer.concat(
    instances.map(([i, value]) => {
      const v = Buffer.alloc(2);
      v.writeUInt16BE(value);
      // 01 (resource instance), 16-bit id, length 2 in the type byte.
      return Buffer.concat([Buffer.from([0x40 | 0x20 | 2, i >> 8, i & 0xff]), v]);
    }),
  );
  // 10 (multiple resource), 8-bit id, 8-bit length.
  return Buffer.concat([Buffer.from([0x88, id, inner.length]), inner]);
}

describe.each(testBackends)('hostile values at the LwM2M edge ($name)', (backend) => {
  const fleet = reportingFleet(backend);
  const device = fleet.open;

  function row(endpoint: string): Promise<DeviceRow | undefined> {
    return fleet.env.db.db
      .selectFrom('devices')
      .selectAll()
      .where('endpoint', '=', endpoint)
      .executeTakeFirst();
  }

  /** A well-behaved device registered after the hostile one is stored: one bad value blocks no one. */
  async function othersStillStored(): Promise<void> {
    const ep = uniqueEndpoint('good');
    const good = await device(OBJECT3);
    expect((await good.register([`ep=${ep}`, 'lwm2m=1.1'])).code).toBe('2.01');
    await fleet.rowWhen(ep, (r) => r.model === 'M1');
  }

  async function registered(d: ReportingDevice, ep: string, query: string[] = []): Promise<string> {
    const answer = await d.register([`ep=${ep}`, 'lwm2m=1.1', ...query]);
    expect(answer.code).toBe('2.01');
    return locationOf(answer)[1]!;
  }

  it('takes lt=2147483648 (a valid lifetime past int4), stores it as 2147483647 as the server holds it, and blocks no one', async () => {
    const ep = uniqueEndpoint('lt');
    const d = await device();
    const id = await registered(d, ep, ['lt=2147483648']);
    const stored = await fleet.rowWhen(ep, () => true);
    expect(stored.lifetime_s).toBe(2_147_483_647);
    expect(fleet.env.server.registration(ep)?.lifetime).toBe(2_147_483_647);
    await othersStillStored();
    // The same through an Update, at the top of the spec's range.
    expect((await d.update(id, ['lt=4294967295'])).code).toBe('2.04');
    expect(fleet.env.server.registration(ep)?.lifetime).toBe(2_147_483_647);
    await othersStillStored();
    expect((await row(ep))?.lifetime_s).toBe(2_147_483_647);
  });

  it('refuses a lifetime outside 1..4294967295 with 4.00 naming the range, on Register and Update', async () => {
    const d = await device();
    const id = await registered(d, uniqueEndpoint('lt-ok'), ['lt=60']);
    for (const lt of ['0', '4294967296', '9999999999', '-5', '1.5', '']) {
      const reg = await d.register([`ep=${uniqueEndpoint('lt-bad')}`, `lt=${lt}`]);
      expect([lt, reg.code, reg.payload.toString()]).toEqual([
        lt,
        '4.00',
        expect.stringContaining('4294967295'),
      ]);
      const upd = await d.update(id, [`lt=${lt}`]);
      expect([lt, upd.code, upd.payload.toString()]).toEqual([
        lt,
        '4.00',
        expect.stringContaining('4294967295'),
      ]);
    }
    await othersStillStored();
  });

  it('refuses names it cannot store as sent (NUL, invalid UTF-8, an encoded surrogate) with 4.00 and a reason', async () => {
    const d = await device();
    const hostile: { query: (string | Buffer)[]; links?: Buffer; reason: RegExp }[] = [
      { query: [Buffer.from('ep=nul\0ep')], reason: /NUL/ },
      { query: [Buffer.from([...Buffer.from('ep=bad'), 0xff, 0xfe])], reason: /UTF-8/ },
      // U+D800 encoded as if it were a character (CESU-8): not UTF-8.
      { query: [Buffer.from([...Buffer.from('ep=half'), 0xed, 0xa0, 0x80])], reason: /UTF-8/ },
      { query: [`ep=${uniqueEndpoint('sms')}`, Buffer.from('sms=+1\0')], reason: /NUL/ },
      {
        query: [`ep=${uniqueEndpoint('body')}`],
        links: Buffer.from('</3/0>,</5/0>\0'),
        reason: /object links.*NUL/,
      },
      {
        query: [`ep=${uniqueEndpoint('body')}`],
        links: Buffer.from([0x3c, 0x2f, 0x33, 0xc3, 0x3e]),
        reason: /UTF-8/,
      },
    ];
    for (const h of hostile) {
      const answer = await d.register(h.query, h.links);
      expect([answer.code, answer.payload.toString()]).toEqual(['4.00', expect.stringMatching(h.reason)]);
    }
    const id = await registered(d, uniqueEndpoint('upd'));
    const badId = await d.update(Buffer.from([0xff]), []);
    expect([badId.code, badId.payload.toString()]).toEqual([
      '4.00',
      expect.stringMatching(/Uri-Path.*UTF-8/),
    ]);
    const badQuery = await d.update(id, [Buffer.from('sms=\0')]);
    expect([badQuery.code, badQuery.payload.toString()]).toEqual([
      '4.00',
      expect.stringMatching(/Uri-Query.*NUL/),
    ]);
    const nulEndpoints = await fleet.env.db.db
      .selectFrom('devices')
      .select('endpoint')
      .where((eb) =>
        eb.or([
          eb('endpoint', 'like', 'nul%'),
          eb('endpoint', 'like', 'bad%'),
          eb('endpoint', 'like', 'half%'),
        ]),
      )
      .execute();
    expect(nulEndpoints).toEqual([]);
    await othersStillStored();
  });

  it('stores a name of any valid text exactly as the server holds it', async () => {
    const ep = `\uFEFFdév-🙂-${uniqueEndpoint('uni')}`;
    const d = await device();
    await registered(d, ep);
    await fleet.rowWhen(ep, () => true);
    expect(fleet.env.server.registration(ep)?.endpoint).toBe(ep);
  });

  async function reported(
    answers: Record<string, Answer>,
    done: (r: DeviceRow) => boolean,
  ): Promise<DeviceRow> {
    const ep = uniqueEndpoint('codes');
    const d = await device({ ...OBJECT3, ...answers });
    await registered(d, ep);
    return fleet.rowWhen(ep, done);
  }

  it('keeps a 5/0/3 of 70000 (text) as unknown code 70000, the column null, and blocks no one', async () => {
    const r = await reported(
      { '/5/0/3': text('70000'), '/5/0/5': text('0') },
      (r) => r.fw_state_raw !== null && r.fw_result !== null,
    );
    expect([r.fw_state, r.fw_state_raw, r.fw_result, r.fw_result_raw]).toEqual([null, '70000', 0, null]);
    expect(toDeviceView(r, undefined, undefined)).toMatchObject({
      fwState: null,
      fwStateText: 'unknown code 70000',
      fwResultText: '0 no result yet',
    });
    await othersStillStored();
  });

  it('keeps a 5/0/3 of 1.5 (SenML JSON) as unknown code 1.5', async () => {
    const senml = (path: string, v: number): Answer => ({
      format: ContentFormat.SENML_JSON,
      payload: Buffer.from(JSON.stringify([{ bn: path, v }])),
    });
    const r = await reported(
      { '/5/0/3': senml('/5/0/3', 1.5), '/5/0/5': senml('/5/0/5', 1) },
      (r) => r.fw_state_raw !== null && r.fw_result !== null,
    );
    expect([r.fw_state, r.fw_state_raw, r.fw_result]).toEqual([null, '1.5', 1]);
    await othersStillStored();
  });

  it('keeps a 5/0/5 of 2^40 (TLV) as unknown code 1099511627776', async () => {
    const r = await reported(
      {
        '/5/0/3': { format: ContentFormat.TLV, payload: tlvInteger(3, 2n, 1) },
        '/5/0/5': { format: ContentFormat.TLV, payload: tlvInteger(5, 2n ** 40n, 8) },
      },
      (r) => r.fw_result_raw !== null && r.fw_state !== null,
    );
    expect([r.fw_state, r.fw_result, r.fw_result_raw]).toEqual([2, null, '1099511627776']);
    expect(toDeviceView(r, undefined, undefined).fwResultText).toBe('unknown code 1099511627776');
    await othersStillStored();
  });

  it('drops 5/0/8 and 5/0/9 values outside the spec (an instance above 32767 included) and keeps the rest', async () => {
    const r = await reported(
      {
        '/5/0/8': {
          format: ContentFormat.TLV,
          payload: tlvMultiple(8, [
            [40_000, 1],
            [2, 40_000],
            [1, 3],
          ]),
        },
        '/5/0/9': text('70000'),
        '/5/0/3': text('0'),
        '/5/0/5': text('0'),
      },
      (r) => r.info_read_at !== null && r.fw_result !== null,
    );
    expect([r.fw_protocol_support, r.fw_delivery_method]).toEqual([[3, 1], null]);
    await othersStillStored();
  });

  it('stores null for object 3 text it cannot store as sent (NUL, invalid UTF-8, too long) and the rest of the info', async () => {
    const r = await reported(
      {
        '/3/0/0': text('Acme'),
        '/3/0/1': text('M\0'),
        '/3/0/2': { format: ContentFormat.TEXT, payload: Buffer.from([0x53, 0xff]) },
        '/3/0/3': text('1'.repeat(300)),
        '/5/0/3': text('0'),
        '/5/0/5': text('0'),
      },
      (r) => r.info_read_at !== null,
    );
    expect([r.manufacturer, r.model, r.serial_number, r.firmware_version]).toEqual([
      'Acme',
      null,
      null,
      null,
    ]);
    await othersStillStored();
  });
});
