import { generate, type Packet } from 'coap-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { Lwm2mServer, type RegistrationChange } from '../../controller/lwm2m/lwm2m-server.js';
import { locationOf, RawDevice } from './support/raw-device.js';

/**
 * The CoAP exchange of a Register served without node-coap's streams: duplicates recognised while
 * the answer waits for its commit, the answer piggybacked or, past the window, separate.
 */

let server: Lwm2mServer | undefined;
const devices: RawDevice[] = [];

afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.close()));
  await server?.stop();
  server = undefined;
});

/** A server whose registrations wait for the test to let their "commit" finish. */
async function gatedServer(timing: { piggybackMs: number; ackTimeoutMs?: number }) {
  const calls: RegistrationChange[] = [];
  const waiting: (() => void)[] = [];
  const asked: (() => void)[] = [];
  const s = await Lwm2mServer.start({
    port: 0,
    host: '127.0.0.1',
    expirySweepMs: 0,
    persistWaitMs: 60_000,
    timing: { ackTimeoutMs: timing.ackTimeoutMs ?? 2000, maxRetransmit: 4, piggybackMs: timing.piggybackMs },
    beforeAnswer: (change) =>
      new Promise<void>((resolve) => {
        calls.push(change);
        waiting.push(resolve);
        for (const notify of asked.splice(0)) notify();
      }),
  });
  server = s;
  let registered = 0;
  s.on('registered', () => registered++);
  const d = await RawDevice.open(s.address().port);
  devices.push(d);
  return {
    server: s,
    device: d,
    calls,
    registered: () => registered,
    /** Resolves once `beforeAnswer` was called `n` times. */
    asked: (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (calls.length >= n ? resolve() : asked.push(check));
        check();
      }),
    commit: () => {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

function register(messageId: number, token: Buffer, confirmable = true): Buffer {
  const packet: Packet = {
    code: '0.02',
    confirmable,
    messageId,
    token,
    options: [
      { name: 'Uri-Path', value: Buffer.from('rd') },
      { name: 'Uri-Query', value: Buffer.from('ep=exchange-test') },
      { name: 'Uri-Query', value: Buffer.from('lt=300') },
    ],
    payload: Buffer.from('</1/0>,</3/0>,</5/0>'),
  };
  return generate(packet);
}

/**
 * Datagrams from one socket are handled in order: once the answer to a request sent after them
 * arrives, the server has handled everything sent before it.
 */
async function handledSoFar(d: RawDevice): Promise<void> {
  const mid = d.send({
    code: '0.01',
    confirmable: true,
    token: Buffer.from([0x5e]),
    options: [{ name: 'Uri-Path', value: Buffer.from('nothing-here') }],
  });
  const answer = await d.next((r) => r.packet.ack && r.packet.messageId === mid);
  expect(answer.packet.code).toBe('4.04');
}

describe('Register exchanges', () => {
  it('handles a Register retransmitted while its commit is pending once, and piggybacks the answer', async () => {
    const t = await gatedServer({ piggybackMs: 60_000 });
    const token = Buffer.from([1, 2, 3, 4]);
    t.device.sendRaw(register(0x1234, token));
    await t.asked(1);
    t.device.sendRaw(register(0x1234, token));
    await handledSoFar(t.device);
    t.commit();
    const answer = await t.device.next((r) => r.packet.messageId === 0x1234);
    expect(answer.packet.ack).toBe(true);
    expect(answer.packet.code).toBe('2.01');
    expect(answer.packet.token.equals(token)).toBe(true);
    expect(locationOf(answer.packet)[0]).toBe('rd');
    // A duplicate after the answer gets the same datagram again, still without a second Register.
    t.device.sendRaw(register(0x1234, token));
    const again = await t.device.next((r) => r.packet.messageId === 0x1234);
    expect(again.packet.code).toBe('2.01');
    expect(locationOf(again.packet)).toEqual(locationOf(answer.packet));
    await handledSoFar(t.device);
    expect(t.calls).toHaveLength(1);
    expect(t.registered()).toBe(1);
    expect([...t.server.registrations()]).toHaveLength(1);
  });

  it('acknowledges a Register whose commit outlasts the window, then answers it separately until acknowledged', async () => {
    const t = await gatedServer({ piggybackMs: 20, ackTimeoutMs: 40 });
    const token = Buffer.from([9, 8, 7]);
    t.device.sendRaw(register(0x2000, token));
    await t.asked(1);
    const empty = await t.device.next((r) => r.packet.messageId === 0x2000);
    expect(empty.packet.code).toBe('0.00');
    expect(empty.packet.ack).toBe(true);
    // The device did not get that ACK and retransmits: it is acknowledged again, not handled again.
    t.device.sendRaw(register(0x2000, token));
    const emptyAgain = await t.device.next((r) => r.packet.messageId === 0x2000);
    expect(emptyAgain.packet.code).toBe('0.00');

    t.commit();
    const separate = await t.device.next((r) => r.packet.token.equals(token));
    expect(separate.packet.confirmable).toBe(true);
    expect(separate.packet.code).toBe('2.01');
    expect(separate.packet.messageId).not.toBe(0x2000);
    // Not acknowledged: the same message comes again.
    const repeated = await t.device.next((r) => r.packet.messageId === separate.packet.messageId);
    expect(repeated.packet.code).toBe('2.01');
    expect(locationOf(repeated.packet)).toEqual(locationOf(separate.packet));
    t.device.send({ code: '0.00', ack: true, messageId: separate.packet.messageId });

    // A late duplicate of the request gets the empty ACK, never a second registration.
    t.device.sendRaw(register(0x2000, token));
    const late = await t.device.next((r) => r.packet.messageId === 0x2000);
    expect(late.packet.code).toBe('0.00');
    await handledSoFar(t.device);
    expect(t.calls).toHaveLength(1);
    expect(t.registered()).toBe(1);
  });

  it('answers a NON Register with a NON response carrying its token', async () => {
    const t = await gatedServer({ piggybackMs: 20 });
    const token = Buffer.from([0xaa, 0xbb]);
    t.device.sendRaw(register(0x3000, token, false));
    await t.asked(1);
    t.device.sendRaw(register(0x3000, token, false));
    await handledSoFar(t.device);
    t.commit();
    const answer = await t.device.next((r) => r.packet.token.equals(token));
    expect(answer.packet.confirmable).toBe(false);
    expect(answer.packet.ack).toBe(false);
    expect(answer.packet.code).toBe('2.01');
    expect(t.calls).toHaveLength(1);
  });

  it('answers a Register whose commit fails, and one the server cannot parse, to the right device', async () => {
    const s = await Lwm2mServer.start({
      port: 0,
      host: '127.0.0.1',
      expirySweepMs: 0,
      beforeAnswer: () => Promise.reject(new Error('database down')),
    });
    server = s;
    const d = await RawDevice.open(s.address().port);
    devices.push(d);
    const other = await RawDevice.open(s.address().port);
    devices.push(other);
    const answer = await d.register(['ep=commit-fails']);
    expect(answer.code).toBe('2.01');
    const rejected = await other.register([], '');
    expect(rejected.code).toBe('4.00');
    expect(s.registration('commit-fails')).toBeDefined();
  });
});
