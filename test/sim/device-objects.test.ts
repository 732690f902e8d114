import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode } from '../../controller/lwm2m/codec/index.js';
import { ContentFormat, type ContentFormatId } from '../../controller/lwm2m/content-format.js';
import { parseLinkFormat } from '../../controller/lwm2m/link-format.js';
import { defaultModel } from '../../controller/lwm2m/model/index.js';
import type { SimDevice } from '../../controller/sim/device/index.js';
import { MODEL, OLD, startDevice } from './helpers/fixtures.js';
import { TestLwm2mServer } from './helpers/test-lwm2m-server.js';

let server: TestLwm2mServer;
let device: SimDevice;

beforeAll(async () => {
  server = await TestLwm2mServer.start();
  device = (await startDevice(server, { protocols: [0, 3] })).device;
});

afterAll(async () => {
  await device.stop();
  await server.close();
});

function decoded(format: number, path: string, payload: Buffer) {
  const r = decode(format as ContentFormatId, path, payload, defaultModel);
  if (!r.ok) throw new Error(r.error);
  return Object.fromEntries(r.records.map((x) => [x.path, x.value]));
}

describe('reads', () => {
  it.each([
    ['TLV', ContentFormat.TLV],
    ['SenML JSON', ContentFormat.SENML_JSON],
    ['SenML CBOR', ContentFormat.SENML_CBOR],
  ])('answers a Read of /5/0 in %s when asked by Accept', async (_name, format) => {
    const r = await server.read(device.endpoint, '/5/0', format);
    expect(r.code).toBe('2.05');
    expect(r.format).toBe(format);
    const values = decoded(format, '/5/0', r.payload);
    expect(values).toMatchObject({ '/5/0/3': 0, '/5/0/5': 0, '/5/0/8/0': 0, '/5/0/8/1': 3, '/5/0/9': 0 });
  });

  it.each([
    ['text/plain', ContentFormat.TEXT],
    ['TLV', ContentFormat.TLV],
    ['SenML JSON', ContentFormat.SENML_JSON],
    ['SenML CBOR', ContentFormat.SENML_CBOR],
  ])('answers a Read of /3/0/3 in %s', async (_name, format) => {
    const r = await server.read(device.endpoint, '/3/0/3', format);
    expect(r.code).toBe('2.05');
    expect(r.format).toBe(format);
    expect(decoded(format, '/3/0/3', r.payload)).toEqual({ '/3/0/3': OLD });
  });

  it('defaults to text/plain for a single resource and SenML CBOR (LwM2M 1.1) for an instance', async () => {
    const single = await server.read(device.endpoint, '/3/0/1');
    expect(single.format).toBe(ContentFormat.TEXT);
    expect(single.payload.toString()).toBe(MODEL);
    const instance = await server.read(device.endpoint, '/3/0');
    expect(instance.format).toBe(ContentFormat.SENML_CBOR);
    expect(decoded(ContentFormat.SENML_CBOR, '/3/0', instance.payload)).toMatchObject({
      '/3/0/1': MODEL,
      '/3/0/2': device.endpoint,
      '/3/0/3': OLD,
      '/3/0/11/0': 0,
      '/3/0/16': 'U',
    });
  });

  it('reads object 1: short server id, lifetime and binding', async () => {
    const r = await server.read(device.endpoint, '/1/0', ContentFormat.TLV);
    expect(decoded(ContentFormat.TLV, '/1/0', r.payload)).toMatchObject({
      '/1/0/0': 1,
      '/1/0/1': 300,
      '/1/0/7': 'U',
    });
  });

  it('answers 4.06 for text/plain of several values, 4.04 for what does not exist, 4.05 for executables', async () => {
    expect((await server.read(device.endpoint, '/5/0', ContentFormat.TEXT)).code).toBe('4.06');
    expect((await server.read(device.endpoint, '/4/0')).code).toBe('4.04');
    expect((await server.read(device.endpoint, '/5/1')).code).toBe('4.04');
    expect((await server.read(device.endpoint, '/3/0/21')).code).toBe('4.04');
    expect((await server.read(device.endpoint, '/5/0/2')).code).toBe('4.05');
  });
});

describe('discover', () => {
  it('lists the resources of /5/0 in link format, 5/0/8 with its dimension', async () => {
    const r = await server.read(device.endpoint, '/5/0', ContentFormat.LINK_FORMAT);
    expect(r.code).toBe('2.05');
    expect(r.format).toBe(ContentFormat.LINK_FORMAT);
    const parsed = parseLinkFormat(r.payload.toString());
    if (!parsed.ok) throw new Error(parsed.error);
    const uris = parsed.links.map((l) => l.uri);
    expect(uris).toEqual([
      '/5/0',
      '/5/0/0',
      '/5/0/1',
      '/5/0/2',
      '/5/0/3',
      '/5/0/5',
      '/5/0/6',
      '/5/0/7',
      '/5/0/8',
      '/5/0/9',
      '/5/0/10',
    ]);
    expect(parsed.links.find((l) => l.uri === '/5/0/8')?.params.dim).toBe('2');
  });
});

describe('writes and executes', () => {
  it('refuses to write a read-only resource (4.05) and accepts a lifetime write', async () => {
    expect((await server.writeText(device.endpoint, '/5/0/3', '2')).code).toBe('4.05');
    expect((await server.writeText(device.endpoint, '/1/0/1', '600')).code).toBe('2.04');
    expect((await server.read(device.endpoint, '/1/0/1')).payload.toString()).toBe('600');
  });

  it('accepts a Package URI written as TLV in a partial update of /5/0', async () => {
    const { encode } = await import('../../controller/lwm2m/codec/index.js');
    const payload = encode(ContentFormat.TLV, '/5/0', [{ path: '/5/0/1', value: 'bad uri' }], defaultModel);
    const r = await server.send(device.endpoint, 'POST', '/5/0', { format: ContentFormat.TLV, payload });
    expect(r.code).toBe('2.04');
    expect((await server.read(device.endpoint, '/5/0/5')).payload.toString()).toBe('7');
    await server.writeText(device.endpoint, '/5/0/1', '');
    expect((await server.read(device.endpoint, '/5/0/5')).payload.toString()).toBe('0');
  });

  it('answers 4.04 to an executable it does not implement and to unknown paths', async () => {
    expect((await server.execute(device.endpoint, '/3/0/5')).code).toBe('4.04');
    expect((await server.execute(device.endpoint, '/7/0/1')).code).toBe('4.04');
  });
});
