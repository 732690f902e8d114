import type { ParsedPacket } from 'coap-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Lwm2mServer,
  type RegistrationRefusedEvent,
  type UpdatedEvent,
} from '../../controller/lwm2m/lwm2m-server.js';
import { ManualClock } from './support/manual-clock.js';
import { locationOf, RawDevice } from './support/raw-device.js';

// Registration ids leak (logs, screenshots, old events): holding one must not let anyone move or
// end the registration. Only the address and port it was made from may Update or De-register it.

let server: Lwm2mServer;
let clock: ManualClock;
let refused: RegistrationRefusedEvent[];
let updates: UpdatedEvent[];
const devices: RawDevice[] = [];

async function device(local: { address?: string; port?: number } = {}): Promise<RawDevice> {
  const d = await RawDevice.open(server.address().port, local);
  devices.push(d);
  return d;
}

/** What a requester learns from an answer: its code and diagnostic payload. */
function seen(answer: ParsedPacket): { code: string; payload: string } {
  return { code: answer.code, payload: answer.payload.toString() };
}

beforeEach(async () => {
  clock = new ManualClock();
  server = await Lwm2mServer.start({ port: 0, clock: clock.read, expirySweepMs: 0 });
  refused = [];
  updates = [];
  server.on('refused', (e) => refused.push(e));
  server.on('updated', (e) => updates.push(e));
});

afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.close()));
  await server.stop();
});

describe('a registration is updated and ended only from where it was made', () => {
  it('answers an Update from another port 4.04, like an unknown id, and leaves the device where it is', async () => {
    const real = await device();
    const attacker = await device();
    const id = locationOf(await real.register(['ep=victim', 'lt=60', 'lwm2m=1.1']))[1]!;
    clock.advance(30_000);

    const forged = await attacker.update(id, ['lt=86400', 'b=U'], '</1/0>');
    const unknown = await attacker.update('no-such-registration');
    expect(seen(forged)).toEqual(seen(unknown));
    expect(forged.code).toBe('4.04');

    expect(server.registration('victim')).toMatchObject({
      id,
      port: real.port,
      lifetime: 60,
      links: '</1/0>,</3/0>,</5/0>',
      lastUpdateAt: clock.now - 30_000,
    });
    expect(updates).toEqual([]);
    expect(refused).toEqual([
      {
        operation: 'update',
        endpoint: 'victim',
        peer: expect.objectContaining({ port: attacker.port }),
        security: 'none',
        reason: 'another-source',
      },
    ]);
  });

  it('answers a De-register from another port 4.04 and keeps the device registered', async () => {
    const real = await device();
    const attacker = await device();
    const id = locationOf(await real.register(['ep=stays']))[1]!;
    let ended = false;
    server.on('deregistered', () => {
      ended = true;
    });

    const forged = await attacker.deregister(id);
    expect(seen(forged)).toEqual(seen(await attacker.deregister('no-such-registration')));
    expect(server.registration('stays')?.id).toBe(id);
    expect(ended).toBe(false);
    expect(refused.map((e) => e.operation)).toEqual(['deregister']);

    // The device itself still can.
    expect((await real.deregister(id)).code).toBe('2.02');
    expect(server.registration('stays')).toBeUndefined();
  });

  it('refuses the same port on another address', async () => {
    const real = await device();
    const id = locationOf(await real.register(['ep=by-address']))[1]!;
    // Linux routes all of 127/8 to loopback: the same port, another address.
    const attacker = await device({ address: '127.0.0.2', port: real.port });
    expect((await attacker.update(id)).code).toBe('4.04');
    expect((await attacker.deregister(id)).code).toBe('4.04');
    expect(server.registration('by-address')).toMatchObject({ address: '127.0.0.1', port: real.port });
    expect(refused.map((e) => e.operation)).toEqual(['update', 'deregister']);
  });

  it('keeps serving Updates from the registered address after a refused one', async () => {
    const real = await device();
    const attacker = await device();
    const id = locationOf(await real.register(['ep=keeps', 'lt=60']))[1]!;
    expect((await attacker.update(id, ['lt=5'])).code).toBe('4.04');
    clock.advance(10_000);
    const answer = await real.update(id, ['lt=120']);
    expect(answer.code).toBe('2.04');
    expect(server.registration('keeps')).toMatchObject({
      port: real.port,
      lifetime: 120,
      lastUpdateAt: clock.now,
    });
  });

  it('lets a device whose port changed register again; its old id then answers 4.04', async () => {
    const before = await device();
    const oldId = locationOf(await before.register(['ep=rebound']))[1]!;
    const after = await device();
    expect((await after.update(oldId)).code).toBe('4.04');
    const newId = locationOf(await after.register(['ep=rebound']))[1]!;
    expect(server.registration('rebound')).toMatchObject({ id: newId, port: after.port });
    expect((await after.update(newId)).code).toBe('2.04');
    expect((await before.update(oldId)).code).toBe('4.04');
  });
});

describe('registration ids', () => {
  it('are 96 random bits, base64url', async () => {
    const d = await device();
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const id = locationOf(await d.register([`ep=ids-${i}`]))[1]!;
      expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(12);
      ids.add(id);
    }
    expect(ids.size).toBe(50);
  });
});
