import { generate } from 'coap-packet';
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
  server = await Lwm2mServer.start({ port: 0, expirySweepMs: 0, maxBodyBytes: 2048 });
});

afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.close()));
  await server.stop();
});

async function stillServes(): Promise<void> {
  const d = await device();
  const answer = await d.register([`ep=after-${Math.random()}`]);
  expect(answer.code).toBe('2.01');
}

describe('malformed datagrams', () => {
  it('drops a truncated header and keeps serving', async () => {
    const d = await device();
    d.sendRaw(Buffer.from([0x40, 0x01]));
    await stillServes();
  });

  it('answers a CON with an invalid option encoding with RST', async () => {
    const d = await device();
    // Header: ver 1, CON, no token, GET, mid 0x1234; then option delta 15 (reserved) without payload marker.
    d.sendRaw(Buffer.from([0x40, 0x01, 0x12, 0x34, 0xf1, 0x00]));
    const rst = await d.next((r) => r.packet.messageId === 0x1234);
    expect(rst.packet.reset).toBe(true);
    await stillServes();
  });

  it('answers an unknown method with 4.05 to the sender', async () => {
    const d = await device();
    d.sendRaw(generate({ code: '0.09', confirmable: true, messageId: 77, token: Buffer.from([9]) }));
    const answer = await d.next((r) => r.packet.messageId === 77);
    expect(answer.packet.code).toBe('4.05');
    await stillServes();
  });

  it('answers an unknown critical option with 4.02', async () => {
    const d = await device();
    const answer = await d.request({
      code: 'POST',
      options: [
        { name: 'Uri-Path', value: Buffer.from('rd') },
        { name: 2053, value: Buffer.from([1]) },
      ],
    });
    expect(answer.code).toBe('4.02');
  });

  it('answers an oversized body with 4.13', async () => {
    const d = await device();
    const datagram = generate(
      {
        code: 'POST',
        confirmable: true,
        messageId: 999,
        token: Buffer.from([7, 7]),
        options: [
          { name: 'Uri-Path', value: Buffer.from('rd') },
          { name: 'Uri-Query', value: Buffer.from('ep=big') },
        ],
        payload: Buffer.alloc(4000, 0x41),
      },
      8192,
    );
    d.sendRaw(datagram);
    const answer = await d.next((r) => r.packet.messageId === 999);
    expect(answer.packet.code).toBe('4.13');
    expect(server.registration('big')).toBeUndefined();
    await stillServes();
  });

  it('answers a CoAP ping with RST', async () => {
    const d = await device();
    d.sendRaw(generate({ code: '0.00', confirmable: true, messageId: 4242 }));
    const pong = await d.next((r) => r.packet.messageId === 4242);
    expect(pong.packet.reset).toBe(true);
  });

  it('answers 4.04 to an unknown path', async () => {
    const d = await device();
    const answer = await d.request({
      code: 'GET',
      options: [{ name: 'Uri-Path', value: Buffer.from('nothing') }],
    });
    expect(answer.code).toBe('4.04');
  });
});

describe('routes and guarded handlers', () => {
  it('serves an added route and answers 5.00 to the right peer when a handler throws', async () => {
    server.addRoute('/fw/', (req) => {
      if (req.packet.options.some((o) => o.value.toString() === 'boom')) throw new Error('handler bug');
      req.answer({ code: '2.05', payload: Buffer.from('image') });
    });
    const d = await device();
    const ok = await d.request({
      code: 'GET',
      options: [
        { name: 'Uri-Path', value: Buffer.from('fw') },
        { name: 'Uri-Path', value: Buffer.from('a.bin') },
      ],
    });
    expect(ok.payload.toString()).toBe('image');
    const boom = await d.request({
      code: 'GET',
      options: [
        { name: 'Uri-Path', value: Buffer.from('fw') },
        { name: 'Uri-Path', value: Buffer.from('boom') },
      ],
    });
    expect(boom.code).toBe('5.00');
    await stillServes();
  });

  it('keeps serving when an event listener throws', async () => {
    server.on('registered', () => {
      throw new Error('listener bug');
    });
    await stillServes();
    await stillServes();
  });
});
