import { once } from 'node:events';
import type { ParsedPacket } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import type { RegisteredEvent } from '../../controller/lwm2m/lwm2m-server.js';
import { ManualClock } from './support/manual-clock.js';
import { locationOf, uintBuf } from './support/raw-device.js';
import { rawDeviceServer } from './support/raw-device-server.js';

let clock: ManualClock;
const raw = rawDeviceServer(() => {
  clock = new ManualClock();
  return { clock: clock.read };
});
const device = () => raw.open();

describe('Register', () => {
  it('answers 2.01 with Location-Path rd/<id> and emits registered after answering', async () => {
    const d = await device();
    const registered = once(raw.server, 'registered');
    const answer = await d.register(
      ['ep=dev-1', 'lt=300', 'lwm2m=1.1', 'b=U'],
      '</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</5/0>',
      40,
    );
    expect(answer.code).toBe('2.01');
    const location = locationOf(answer);
    expect(location[0]).toBe('rd');
    const [event] = (await registered) as [RegisteredEvent];
    expect(event.previous).toBeUndefined();
    expect(event.registration).toMatchObject({
      id: location[1],
      endpoint: 'dev-1',
      address: '127.0.0.1',
      port: d.port,
      lifetime: 300,
      lwm2mVersion: '1.1',
      binding: 'U',
      queueMode: false,
      contentFormats: [110],
    });
    expect([...raw.server.registrations()].map((r) => r.endpoint)).toEqual(['dev-1']);
  });

  it('accepts a 1.0 Register without b= and without Content-Format, with default lifetime', async () => {
    const d = await device();
    const answer = await d.register(['ep=old-client']);
    expect(answer.code).toBe('2.01');
    expect(raw.server.registration('old-client')).toMatchObject({
      lwm2mVersion: '1.0',
      binding: 'U',
      lifetime: 86400,
    });
  });

  it('accepts lwm2m=1.2 and answers 4.12 to an unsupported version', async () => {
    const d = await device();
    expect((await d.register(['ep=new-client', 'lwm2m=1.2'])).code).toBe('2.01');
    expect((await d.register(['ep=future', 'lwm2m=2.0'])).code).toBe('4.12');
    expect(raw.server.registration('future')).toBeUndefined();
  });

  it('reads queue mode from b=UQ (1.0) and from Q (1.1)', async () => {
    const d = await device();
    await d.register(['ep=q10', 'lwm2m=1.0', 'b=UQ']);
    await d.register(['ep=q11', 'lwm2m=1.1', 'b=U', 'Q']);
    expect(raw.server.registration('q10')).toMatchObject({ binding: 'U', queueMode: true });
    expect(raw.server.registration('q11')).toMatchObject({ binding: 'U', queueMode: true });
  });

  it('rejects a Register without endpoint name or with garbage link format with 4.00', async () => {
    const d = await device();
    expect((await d.register(['lt=60'])).code).toBe('4.00');
    expect((await d.register(['ep=bad-links'], '</1/0>,garbage<<')).code).toBe('4.00');
    expect((await d.register(['ep=bad-ct'], '</1/0>', 50)).code).toBe('4.15');
    expect(raw.server.registration('bad-links')).toBeUndefined();
  });

  it('reassembles a Block1-transferred Register body', async () => {
    const d = await device();
    const links = Array.from({ length: 12 }, (_, i) => `</${i + 10}/0>`).join(',');
    const body = Buffer.from(links);
    const token = Buffer.from([1, 2, 3, 4]);
    const blocks = [body.subarray(0, 32), body.subarray(32, 64), body.subarray(64)];
    let last: ParsedPacket | undefined;
    for (const [num, chunk] of blocks.entries()) {
      const more = num < blocks.length - 1;
      last = await d.request({
        code: 'POST',
        token,
        options: [
          { name: 'Uri-Path', value: Buffer.from('rd') },
          { name: 'Uri-Query', value: Buffer.from('ep=blocky') },
          { name: 'Block1', value: uintBuf(num * 16 + (more ? 8 : 0) + 1) },
        ],
        payload: chunk,
      });
      if (more) expect(last.code).toBe('2.31');
    }
    expect(last?.code).toBe('2.01');
    expect(raw.server.registration('blocky')?.links).toBe(links);
  });
});

describe('Update', () => {
  it('answers 2.04 and applies lt, b and the object links', async () => {
    const d = await device();
    const id = locationOf(await d.register(['ep=upd', 'lt=60', 'lwm2m=1.1']))[1]!;
    clock.advance(30_000);
    const updated = once(raw.server, 'updated');
    const answer = await d.update(id, ['lt=120', 'b=U'], '</1/0>,</3/0>');
    expect(answer.code).toBe('2.04');
    const [event] = await updated;
    expect(event.previous.lifetime).toBe(60);
    expect(event.registration).toMatchObject({ id, port: d.port, lifetime: 120, links: '</1/0>,</3/0>' });
    expect(event.registration.lastUpdateAt).toBe(clock.now);
  });

  it('answers 4.04 to an Update or De-register of an unknown registration', async () => {
    const d = await device();
    expect((await d.update('nope')).code).toBe('4.04');
    expect((await d.deregister('nope')).code).toBe('4.04');
  });

  it('keeps serving Updates for restored registrations', async () => {
    const d = await device();
    raw.server.restoreRegistrations([
      {
        id: 'restored1',
        endpoint: 'from-db',
        address: '127.0.0.1',
        port: d.port,
        security: 'none',
        identity: undefined,
        lifetime: 60,
        lwm2mVersion: '1.1',
        binding: 'U',
        queueMode: false,
        sms: undefined,
        links: '</3/0>',
        contentFormats: undefined,
        registeredAt: clock.now,
        lastUpdateAt: clock.now,
      },
    ]);
    expect((await d.update('restored1')).code).toBe('2.04');
    expect(raw.server.registration('from-db')?.lastUpdateAt).toBe(clock.now);
  });
});

describe('De-register', () => {
  it('answers 2.02 and emits deregistered', async () => {
    const d = await device();
    const id = locationOf(await d.register(['ep=bye']))[1]!;
    const gone = once(raw.server, 'deregistered');
    expect((await d.deregister(id)).code).toBe('2.02');
    const [event] = await gone;
    expect(event.registration.endpoint).toBe('bye');
    expect(raw.server.registration('bye')).toBeUndefined();
  });
});

describe('re-registration', () => {
  it('replaces the registration of an endpoint that registers again from a new port', async () => {
    const before = await device();
    const oldId = locationOf(await before.register(['ep=reboot', 'lwm2m=1.1']))[1]!;
    const after = await device();
    const registered = once(raw.server, 'registered');
    const newId = locationOf(await after.register(['ep=reboot', 'lwm2m=1.1']))[1]!;
    const [event] = (await registered) as [RegisteredEvent];
    expect(newId).not.toBe(oldId);
    expect(event.previous?.id).toBe(oldId);
    expect(event.registration.port).toBe(after.port);
    expect([...raw.server.registrations()]).toHaveLength(1);
    expect((await before.update(oldId)).code).toBe('4.04');
  });
});

describe('expiry', () => {
  it('expires a registration not updated within its lifetime', async () => {
    const d = await device();
    const id = locationOf(await d.register(['ep=sleepy', 'lt=60']))[1]!;
    clock.advance(59_000);
    expect(raw.server.expire(clock.now)).toEqual([]);
    expect((await d.update(id)).code).toBe('2.04');
    clock.advance(61_000);
    const expired = once(raw.server, 'expired');
    expect(raw.server.expire(clock.now).map((r) => r.endpoint)).toEqual(['sleepy']);
    const [event] = await expired;
    expect(event.registration.id).toBe(id);
    expect(raw.server.registration('sleepy')).toBeUndefined();
    expect((await d.update(id)).code).toBe('4.04');
  });
});
