import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../controller/sim/clock.js';
import { startDevice } from './helpers/fixtures.js';
import { type ServerEvent, TestLwm2mServer } from './helpers/test-lwm2m-server.js';

let server: TestLwm2mServer;

beforeAll(async () => {
  server = await TestLwm2mServer.start();
});

afterAll(async () => {
  await server.close();
});

const of = (endpoint: string, kind: ServerEvent['kind']) => (e: ServerEvent) =>
  e.kind === kind && e.registration.endpoint === endpoint;

describe('registration', () => {
  it('registers with ep, lt, lwm2m=1.1, b=U and a link-format body of objects 1, 3 and 5', async () => {
    const { device } = await startDevice(server, { lifetime: 120 });
    const r = server.registrations.get(device.endpoint)!;
    expect(r.query).toMatchObject({ ep: device.endpoint, lt: '120', lwm2m: '1.1', b: 'U' });
    expect(r.body).toBe('</1/0>,</3/0>,</5>;ver=1.2,</5/0>');
    await device.stop();
  });

  it('sends an Update at 80% of its lifetime, not before', async () => {
    const clock = new ManualClock();
    const { device } = await startDevice(server, { lifetime: 100, clock });
    const updates = () => server.log.filter(of(device.endpoint, 'update')).length;
    clock.advance(79_999);
    // A Read round trip: an Update sent at this point would have arrived before the answer.
    await server.read(device.endpoint, '/3/0/3');
    expect(updates()).toBe(0);
    const update = server.waitFor(of(device.endpoint, 'update'));
    clock.advance(1);
    await update;
    expect(updates()).toBe(1);
    await device.stop();
  });

  it('registers again when the server answers an Update with 4.04', async () => {
    const clock = new ManualClock();
    const { device, events, waitFor } = await startDevice(server, { lifetime: 100, clock });
    const again = waitFor((e) => e.kind === 'registered');
    server.forgetOnUpdate = true;
    try {
      clock.advance(80_000);
      await again;
    } finally {
      server.forgetOnUpdate = false;
    }
    expect(events.filter((e) => e.kind === 'registered')).toHaveLength(2);
    await device.stop();
  });

  it('de-registers on stop', async () => {
    const { device } = await startDevice(server);
    const gone = server.waitFor(of(device.endpoint, 'deregister'));
    await device.stop();
    await gone;
    expect(server.registrations.has(device.endpoint)).toBe(false);
  });

  it('reboots on Execute 3/0/4 and registers from a new port', async () => {
    const { device } = await startDevice(server);
    const before = server.registrations.get(device.endpoint)!;
    const again = server.waitFor(of(device.endpoint, 'register'));
    expect((await server.execute(device.endpoint, '/3/0/4')).code).toBe('2.04');
    const after = (await again).registration;
    expect(after.port).not.toBe(before.port);
    await device.stop();
  });

  it('sends an Update when 1/0/8 Registration Update Trigger is executed', async () => {
    const { device } = await startDevice(server);
    const update = server.waitFor(of(device.endpoint, 'update'));
    expect((await server.execute(device.endpoint, '/1/0/8')).code).toBe('2.04');
    await update;
    await device.stop();
  });

  it('expire fault: goes offline at its first Update, misses its lifetime, then registers anew', async () => {
    const clock = new ManualClock();
    const { device, waitFor } = await startDevice(server, {
      lifetime: 100,
      clock,
      faults: new Map([['expire', 150]]),
    });
    const offline = waitFor((e) => e.kind === 'offline');
    clock.advance(80_000);
    expect(await offline).toMatchObject({ forMs: 150_000 });
    expect(device.registered).toBe(false);
    const again = waitFor((e) => e.kind === 'registered');
    clock.advance(150_000);
    await again;
    expect(server.log.filter(of(device.endpoint, 'update'))).toHaveLength(0);
    expect(device.registered).toBe(true);
    await device.stop();
  });

  it('queue-mode fault: ignores requests after its awake window until its next Update', async () => {
    const clock = new ManualClock();
    const { device } = await startDevice(server, {
      lifetime: 100,
      clock,
      faults: new Map([['queue-mode', 10]]),
    });
    const awake = await startDevice(server);
    clock.advance(10_000);
    let answered = false;
    const read = server.read(device.endpoint, '/3/0/3').then((r) => {
      answered = true;
      return r;
    });
    // Round trip to another device: the sleeping one had its chance to answer.
    await server.read(awake.device.endpoint, '/3/0/3');
    expect(answered).toBe(false);
    const update = server.waitFor(of(device.endpoint, 'update'));
    clock.advance(70_000);
    await update;
    // node-coap retransmits the Read; the now-awake device answers it.
    expect((await read).code).toBe('2.05');
    await Promise.all([device.stop(), awake.device.stop()]);
  });
});
