import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentFormat } from '../../controller/lwm2m/content-format.js';
import { ASLEEP, isAsleep, type RequestGate } from '../../controller/lwm2m/index.js';
import { Lwm2mServer } from '../../controller/lwm2m/lwm2m-server.js';
import { ManualClock } from './support/manual-clock.js';
import { locationOf, pathOf, RawDevice } from './support/raw-device.js';

let server: Lwm2mServer;
let clock: ManualClock;
let d: RawDevice;

beforeEach(async () => {
  clock = new ManualClock();
  server = await Lwm2mServer.start({
    port: 0,
    clock: clock.read,
    expirySweepMs: 0,
    queueAwakeMs: 93_000,
    maxQueuedPerDevice: 2,
  });
  d = await RawDevice.open(server.address().port);
});

afterEach(async () => {
  await d.close();
  await server.stop();
});

describe('queue mode', () => {
  it('sends at once while the device listens after Register', async () => {
    await d.register(['ep=q-awake', 'lwm2m=1.1', 'Q']);
    const read = server.device('q-awake').read('/3/0/3', { format: ContentFormat.TEXT });
    const req = await d.nextRequest();
    d.answer(req, '2.05', Buffer.from('x'), ContentFormat.TEXT);
    expect(await read).toMatchObject({ kind: 'ok' });
  });

  it('holds requests for a sleeping device until its next Update, bounded per device', async () => {
    const id = locationOf(await d.register(['ep=q-sleep', 'lwm2m=1.0', 'b=UQ']))[1]!;
    clock.advance(94_000);
    const first = server.device('q-sleep').read('/3/0/3', { format: ContentFormat.TEXT });
    const second = server.device('q-sleep').execute('/3/0/4');
    expect(await server.device('q-sleep').read('/3/0/2')).toEqual({
      kind: 'unreachable',
      reason: 'request queue full',
    });
    expect(server.queuedRequests('q-sleep')).toBe(2);
    expect((await d.update(id)).code).toBe('2.04');
    const r1 = await d.nextRequest();
    d.answer(r1, '2.05', Buffer.from('1.2.3'), ContentFormat.TEXT);
    expect(await first).toMatchObject({ kind: 'ok', records: [{ value: '1.2.3' }] });
    const r2 = await d.nextRequest();
    expect(r2.packet.code).toBe('0.02');
    d.answer(r2, '2.04');
    expect(await second).toEqual({ kind: 'ok', code: '2.04' });
  });

  it('fails queued requests when the device de-registers', async () => {
    const id = locationOf(await d.register(['ep=q-gone', 'lwm2m=1.1', 'Q']))[1]!;
    clock.advance(100_000);
    const pending = server.device('q-gone').read('/3/0/3');
    expect((await d.deregister(id)).code).toBe('2.02');
    expect(await pending).toMatchObject({ kind: 'unreachable' });
  });

  it('gives a waiting request’s gate back, takes it again and checks it right before sending', async () => {
    const id = locationOf(await d.register(['ep=q-gate', 'lwm2m=1.1', 'Q']))[1]!;
    clock.advance(94_000);
    const log: string[] = [];
    const gate = (name: string, refusal?: string): RequestGate => ({
      release: () => log.push(`${name} released`),
      reacquire: async () => {
        log.push(`${name} reacquired`);
      },
      refusal: () => {
        log.push(`${name} checked`);
        return refusal;
      },
    });
    const read = server.device('q-gate', gate('read')).read('/3/0/3', { format: ContentFormat.TEXT });
    const execute = server.device('q-gate', gate('execute', 'claim ran out')).execute('/3/0/4');
    expect(log).toEqual(['read released', 'execute released']);
    expect((await d.update(id)).code).toBe('2.04');
    const r1 = await d.nextRequest();
    expect(log).toEqual(['read released', 'execute released', 'read reacquired', 'read checked']);
    d.answer(r1, '2.05', Buffer.from('1.2.3'), ContentFormat.TEXT);
    expect(await read).toMatchObject({ kind: 'ok', records: [{ value: '1.2.3' }] });
    // Refused when it was its turn: never sent, so the next request the device sees is this one.
    expect(await execute).toEqual({ kind: 'unreachable', reason: 'claim ran out' });
    expect(log.slice(4)).toEqual(['execute reacquired', 'execute checked']);
    const next = server.device('q-gate').read('/3/0/2', { format: ContentFormat.TEXT });
    const r2 = await d.nextRequest();
    expect(r2.packet.code).toBe('0.01');
    d.answer(r2, '2.05', Buffer.from('s'), ContentFormat.TEXT);
    expect(await next).toMatchObject({ kind: 'ok' });
  });

  it('ends a waiting request unsent when its gate expires, and when the registration ends', async () => {
    const id = locationOf(await d.register(['ep=q-expire', 'lwm2m=1.1', 'Q']))[1]!;
    clock.advance(94_000);
    let expire!: (reason: string) => void;
    let reacquired = 0;
    const gate: RequestGate = {
      release() {},
      reacquire: async () => {
        reacquired++;
      },
      expired: new Promise((resolve) => {
        expire = resolve;
      }),
    };
    const expiring = server.device('q-expire', gate).execute('/3/0/4');
    const ending = server.device('q-expire', { ...gate, expired: new Promise(() => {}) }).read('/3/0/3');
    expect(server.queuedRequests('q-expire')).toBe(2);
    expire('its claim ran out before it was sent');
    expect(await expiring).toEqual({ kind: 'unreachable', reason: 'its claim ran out before it was sent' });
    expect(server.queuedRequests('q-expire')).toBe(1);
    expect((await d.deregister(id)).code).toBe('2.02');
    expect(await ending).toMatchObject({ kind: 'unreachable' });
    expect(reacquired).toBe(2);
  });

  it('ends a request that does not wait for a wake at once while the device sleeps', async () => {
    await d.register(['ep=q-nowait', 'lwm2m=1.1', 'Q']);
    clock.advance(94_000);
    const log: string[] = [];
    const gate: RequestGate = {
      release: () => log.push('released'),
      reacquire: async () => {
        log.push('reacquired');
      },
      waitsForWake: false,
    };
    expect(await server.device('q-nowait', gate).read('/3/0')).toEqual(ASLEEP);
    expect(isAsleep(ASLEEP)).toBe(true);
    // No queue place taken, no slot given back.
    expect(server.queuedRequests('q-nowait')).toBe(0);
    expect(log).toEqual([]);
  });

  it('sends a request that does not wait for a wake in its turn while the device listens, and ends it if the device falls asleep first', async () => {
    const id = locationOf(await d.register(['ep=q-turn', 'lwm2m=1.1', 'Q']))[1]!;
    clock.advance(94_000);
    const log: string[] = [];
    const gate = (name: string): RequestGate => ({
      release: () => log.push(`${name} released`),
      reacquire: async () => {
        log.push(`${name} reacquired`);
      },
      waitsForWake: false,
    });
    const first = server.device('q-turn').read('/3/0/3', { format: ContentFormat.TEXT });
    expect((await d.update(id)).code).toBe('2.04');
    // While the request that waited is being sent, one that does not wait queues behind it.
    const r1 = await d.nextRequest();
    const inTurn = server.device('q-turn', gate('in turn')).read('/3/0/2', { format: ContentFormat.TEXT });
    expect(log).toEqual(['in turn released']);
    d.answer(r1, '2.05', Buffer.from('1.2.3'), ContentFormat.TEXT);
    expect(await first).toMatchObject({ kind: 'ok' });
    const r2 = await d.nextRequest();
    d.answer(r2, '2.05', Buffer.from('s'), ContentFormat.TEXT);
    expect(await inTurn).toMatchObject({ kind: 'ok', records: [{ value: 's' }] });
    expect(log).toEqual(['in turn released', 'in turn reacquired']);

    // Again, but the device falls asleep before its turn: it ends unsent; one that waits stays.
    clock.advance(94_000);
    const second = server.device('q-turn').read('/3/0/3', { format: ContentFormat.TEXT });
    expect((await d.update(id)).code).toBe('2.04');
    const r3 = await d.nextRequest();
    const late = server.device('q-turn', gate('late')).read('/3/0/2');
    const waiting = server.device('q-turn').read('/3/0/1');
    expect(server.queuedRequests('q-turn')).toBe(2);
    clock.advance(94_000);
    d.answer(r3, '2.05', Buffer.from('1.2.3'), ContentFormat.TEXT);
    expect(await second).toMatchObject({ kind: 'ok' });
    expect(await late).toEqual(ASLEEP);
    expect(log.slice(2)).toEqual(['late released', 'late reacquired']);
    expect(server.queuedRequests('q-turn')).toBe(1);
    expect((await d.update(id)).code).toBe('2.04');
    const r4 = await d.nextRequest();
    expect(pathOf(r4.packet)).toBe('/3/0/1');
    d.answer(r4, '2.05', Buffer.from('m'), ContentFormat.TEXT);
    expect(await waiting).toMatchObject({ kind: 'ok' });
  });

  it('counts a device as listening when its Register and Update are announced', async () => {
    const asked: Promise<unknown>[] = [];
    const ask = (e: { registration: { endpoint: string } }) =>
      asked.push(
        server
          .device(e.registration.endpoint, { release() {}, reacquire: async () => {}, waitsForWake: false })
          .read('/3/0/3', { format: ContentFormat.TEXT }),
      );
    server.on('registered', ask);
    server.on('updated', ask);
    const id = locationOf(await d.register(['ep=q-announced', 'lwm2m=1.1', 'Q']))[1]!;
    clock.advance(94_000);
    expect((await d.update(id)).code).toBe('2.04');
    for (const answer of ['1.0', '1.1']) {
      d.answer(await d.nextRequest(), '2.05', Buffer.from(answer), ContentFormat.TEXT);
    }
    const [registered, updated] = await Promise.all(asked);
    expect(registered).toMatchObject({ kind: 'ok', records: [{ value: '1.0' }] });
    expect(updated).toMatchObject({ kind: 'ok', records: [{ value: '1.1' }] });
  });
});
