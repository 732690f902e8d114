import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentFormat } from '../../controller/lwm2m/content-format.js';
import type { NotificationResult } from '../../controller/lwm2m/downlink/results.js';
import { Lwm2mServer } from '../../controller/lwm2m/lwm2m-server.js';
import { CoapDevice } from './support/coap-device.js';

let server: Lwm2mServer;
let dev: CoapDevice;

async function registered(query: string[], links = '</1/0>,</3/0>,</5/0>'): Promise<CoapDevice> {
  dev = await CoapDevice.open(server.address().port);
  dev.values.set('/3/0/0', 'Acme');
  dev.values.set('/3/0/3', '1.0.0');
  dev.values.set('/5/0/3', 0);
  dev.values.set('/5/0/5', 0);
  dev.values.set('/5/0/1', '');
  const answer = await dev.register(query, links);
  expect(answer.code).toBe('2.01');
  return dev;
}

beforeEach(async () => {
  server = await Lwm2mServer.start({ port: 0, expirySweepMs: 0 });
});

afterEach(async () => {
  await dev?.close();
  await server.stop();
});

function nextNotification(): { promise: Promise<NotificationResult>; push: (n: NotificationResult) => void } {
  const queue: NotificationResult[] = [];
  const waiters: ((n: NotificationResult) => void)[] = [];
  return {
    push: (n) => {
      const w = waiters.shift();
      if (w) w(n);
      else queue.push(n);
    },
    get promise() {
      const n = queue.shift();
      return n ? Promise.resolve(n) : new Promise<NotificationResult>((r) => waiters.push(r));
    },
  };
}

describe('Read', () => {
  it('reads a single resource as text/plain', async () => {
    await registered(['ep=r1', 'lwm2m=1.1']);
    const result = await server.device('r1').read('/3/0/3', { format: ContentFormat.TEXT });
    expect(result).toMatchObject({
      kind: 'ok',
      code: '2.05',
      format: 0,
      records: [{ path: '/3/0/3', value: '1.0.0' }],
    });
  });

  it('reads an object instance in TLV from a 1.0 device', async () => {
    await registered(['ep=r2', 'lwm2m=1.0']);
    const result = await server.device('r2').read('/3/0');
    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    expect(result.format).toBe(ContentFormat.TLV);
    expect(result.records).toEqual(
      expect.arrayContaining([
        { path: '/3/0/0', value: 'Acme' },
        { path: '/3/0/3', value: '1.0.0' },
      ]),
    );
    expect(dev.seen.at(-1)?.accept).toBe(ContentFormat.TLV);
  });

  it('prefers SenML JSON when the device announces ct=110', async () => {
    await registered(['ep=r3', 'lwm2m=1.1'], '</>;rt="oma.lwm2m";ct=110,</3/0>,</5/0>');
    const result = await server.device('r3').read('/5/0');
    expect(result).toMatchObject({ kind: 'ok', format: ContentFormat.SENML_JSON });
    expect(dev.seen.at(-1)?.accept).toBe(ContentFormat.SENML_JSON);
  });

  it('falls back to the next format when the device answers 4.06', async () => {
    await registered(['ep=r4', 'lwm2m=1.1']);
    dev.refuse.add(ContentFormat.SENML_CBOR);
    const result = await server.device('r4').read('/3/0');
    expect(result).toMatchObject({ kind: 'ok', format: ContentFormat.SENML_JSON });
    expect(dev.seen.map((s) => s.accept)).toEqual([ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON]);
    await server.device('r4').read('/3/0');
    expect(dev.seen.at(-1)?.accept).toBe(ContentFormat.SENML_JSON);
  });

  it('returns the device error code as a value', async () => {
    await registered(['ep=r5', 'lwm2m=1.1']);
    const result = await server.device('r5').read('/9/0');
    expect(result).toMatchObject({ kind: 'error', code: '4.04' });
  });

  it('answers unreachable for an endpoint that is not registered', async () => {
    dev = await CoapDevice.open(server.address().port);
    expect(await server.device('ghost').read('/3/0/3')).toEqual({
      kind: 'unreachable',
      reason: 'not registered',
    });
  });
});

describe('Write', () => {
  it('replaces a single resource with text/plain (PUT)', async () => {
    await registered(['ep=w1', 'lwm2m=1.1']);
    const result = await server.device('w1').write('/5/0/1', 'coap://127.0.0.1/fw/a.bin');
    expect(result).toEqual({ kind: 'ok', code: '2.04' });
    expect(dev.seen.at(-1)).toMatchObject({ method: 'PUT', contentFormat: ContentFormat.TEXT });
    expect(dev.values.get('/5/0/1')).toBe('coap://127.0.0.1/fw/a.bin');
  });

  it('partially updates an instance in TLV (POST) on a 1.0 device', async () => {
    await registered(['ep=w2', 'lwm2m=1.0']);
    const result = await server
      .device('w2')
      .write('/5/0', [{ path: '/5/0/1', value: 'coap://x/y' }], { mode: 'update' });
    expect(result).toEqual({ kind: 'ok', code: '2.04' });
    expect(dev.seen.at(-1)).toMatchObject({ method: 'POST', contentFormat: ContentFormat.TLV });
    expect(dev.values.get('/5/0/1')).toBe('coap://x/y');
  });

  it('writes SenML CBOR to a 1.1 device', async () => {
    await registered(['ep=w3', 'lwm2m=1.1']);
    const result = await server
      .device('w3')
      .write('/5/0', [{ path: '/5/0/1', value: 'coap://z' }], { mode: 'update' });
    expect(result).toEqual({ kind: 'ok', code: '2.04' });
    expect(dev.seen.at(-1)).toMatchObject({ method: 'POST', contentFormat: ContentFormat.SENML_CBOR });
    expect(dev.values.get('/5/0/1')).toBe('coap://z');
  });
});

describe('Execute and Discover', () => {
  it('executes a resource with arguments', async () => {
    await registered(['ep=e1', 'lwm2m=1.1']);
    expect(await server.device('e1').execute('/5/0/2', "0='now'")).toEqual({ kind: 'ok', code: '2.04' });
    expect(dev.executed).toEqual([{ path: '/5/0/2', args: "0='now'" }]);
  });

  it("keeps a refusal's payload as printable text of at most 200 characters", async () => {
    await registered(['ep=e2', 'lwm2m=1.1']);
    const payload = Buffer.concat([Buffer.from('bad\0request\r\n\x1b[31m'), Buffer.alloc(500, 'x')]);
    dev.executeRefusal = { code: '4.00', payload };
    const result = await server.device('e2').execute('/5/0/2');
    expect(result).toEqual({ kind: 'error', code: '4.00', message: `bad request [31m${'x'.repeat(183)}…` });
    if (result.kind === 'error') expect(result.message).toHaveLength(200);
  });

  it('discovers the resources of an object', async () => {
    await registered(['ep=d1', 'lwm2m=1.1']);
    const result = await server.device('d1').discover('/5/0');
    expect(result.kind).toBe('ok');
    if (result.kind === 'ok') expect(result.links.map((l) => l.uri)).toEqual(['/5/0', '/5/0/1', '/5/0/3']);
  });
});

describe('Observe', () => {
  it('delivers notifications in order and stops after an active cancel', async () => {
    await registered(['ep=o1', 'lwm2m=1.1']);
    const inbox = nextNotification();
    const seenByServer: string[] = [];
    server.on('notification', (n) => seenByServer.push(`${n.endpoint}${n.path}`));
    const result = await server.device('o1').observe('/5/0/3', inbox.push, { format: ContentFormat.TEXT });
    expect(result).toMatchObject({ kind: 'ok', records: [{ path: '/5/0/3', value: 0 }] });
    if (result.kind !== 'ok') return;
    dev.values.set('/5/0/3', 1);
    dev.notify('/5/0/3', ContentFormat.TEXT);
    expect(await inbox.promise).toMatchObject({ kind: 'ok', records: [{ path: '/5/0/3', value: 1 }] });
    dev.values.set('/5/0/3', 2);
    dev.notify('/5/0/3', ContentFormat.TEXT);
    expect(await inbox.promise).toMatchObject({ kind: 'ok', records: [{ path: '/5/0/3', value: 2 }] });
    expect(seenByServer).toEqual(['o1/5/0/3', 'o1/5/0/3']);
    await result.observation.cancel({ active: true });
    expect(dev.seen.filter((s) => s.method === 'GET')).toHaveLength(2);
  });

  it('observes an instance in SenML CBOR', async () => {
    await registered(['ep=o2', 'lwm2m=1.1']);
    const inbox = nextNotification();
    const result = await server.device('o2').observe('/5/0', inbox.push);
    expect(result).toMatchObject({ kind: 'ok', format: ContentFormat.SENML_CBOR });
    dev.values.set('/5/0/5', 1);
    dev.notify('/5/0', ContentFormat.SENML_CBOR);
    const n = await inbox.promise;
    expect(n.kind).toBe('ok');
    if (n.kind === 'ok') expect(n.records).toContainEqual({ path: '/5/0/5', value: 1 });
  });
});
