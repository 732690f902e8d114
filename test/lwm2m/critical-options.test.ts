import type { Packet } from 'coap-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Lwm2mServer } from '../../controller/lwm2m/lwm2m-server.js';
import { RawDevice } from './support/raw-device.js';

let server: Lwm2mServer;
const devices: RawDevice[] = [];

async function device(): Promise<RawDevice> {
  const d = await RawDevice.open(server.address().port);
  devices.push(d);
  return d;
}

beforeEach(async () => {
  server = await Lwm2mServer.start({ port: 0, expirySweepMs: 0 });
});

afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.close()));
  await server.stop();
});

type Options = NonNullable<Packet['options']>;

function register(d: RawDevice, endpoint: string, extra: Options) {
  return d.request({
    code: 'POST',
    options: [
      { name: 'Uri-Path', value: Buffer.from('rd') },
      { name: 'Uri-Query', value: Buffer.from(`ep=${endpoint}`) },
      ...extra,
    ],
    payload: Buffer.from('</1/0>,</3/0>'),
  });
}

// RFC 7252 5.4.1: an unrecognised critical (odd-numbered) option in a request means 4.02 Bad Option;
// an unrecognised elective (even) one is ignored. coap-packet names the options it knows and passes
// every other one as its number in a string.
describe('critical options (RFC 7252 5.4.1)', () => {
  it.each([
    ['an unknown odd option number', 2051],
    ['an unregistered odd option above 2^15', 65001],
    ['OSCORE, which this server does not implement', 9],
    ['If-Match, which this server does not implement', 1],
  ])('answers 4.02 Bad Option to a Register with %s, and registers nothing', async (_what, number) => {
    const d = await device();
    const endpoint = `critical-${number}`;
    const answer = await register(d, endpoint, [{ name: number as never, value: Buffer.from([1]) }]);
    expect(answer.code).toBe('4.02');
    expect(server.registration(endpoint)).toBeUndefined();
  });

  it('answers 4.02 to a GET with an unknown critical option on a route', async () => {
    server.addRoute('/fw/', (req) => req.answer({ code: '2.05', payload: Buffer.from('image') }));
    const d = await device();
    const answer = await d.request({
      code: 'GET',
      options: [
        { name: 'Uri-Path', value: Buffer.from('fw') },
        { name: 'Uri-Path', value: Buffer.from('a.bin') },
        { name: 1025 as never, value: Buffer.alloc(0) },
      ],
    });
    expect(answer.code).toBe('4.02');
  });

  it.each([
    ['an unknown even option number', 2050],
    ['No-Response', 258],
  ])('ignores %s and registers', async (_what, number) => {
    const d = await device();
    const endpoint = `elective-${number}`;
    const answer = await register(d, endpoint, [{ name: number as never, value: Buffer.from([1]) }]);
    expect(answer.code).toBe('2.01');
    expect(server.registration(endpoint)).toBeDefined();
  });

  it('accepts the critical options it implements (Uri-Host, Uri-Port)', async () => {
    const d = await device();
    const answer = await register(d, 'with-host', [
      { name: 'Uri-Host', value: Buffer.from('ota.example.org') },
      { name: 'Uri-Port', value: Buffer.from([0x16, 0x33]) },
    ]);
    expect(answer.code).toBe('2.01');
  });
});
