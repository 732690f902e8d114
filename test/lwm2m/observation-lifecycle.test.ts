import type { Packet } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { ContentFormat } from '../../controller/lwm2m/content-format.js';
import type { Observation } from '../../controller/lwm2m/downlink/results.js';
import { option, type RawDevice, type Received, uint, uintBuf } from './support/raw-device.js';
import { rawDeviceServer } from './support/raw-device-server.js';

const raw = rawDeviceServer(() => ({
  timing: { ackTimeoutMs: 100, maxRetransmit: 2, responseTimeoutMs: 2000 },
}));
const device = raw.registered;

/** Observes `path` on the raw device `d` (which accepts with sequence 1); returns the observation and its token. */
async function observe(
  d: RawDevice,
  ep: string,
  path: string,
  onValue: (v: unknown) => void = () => {},
): Promise<{ observation: Observation; request: Received }> {
  const observed = raw.server
    .device(ep)
    .observe(path, (n) => onValue(n.kind === 'ok' ? n.records[0]?.value : n.kind), {
      format: ContentFormat.TEXT,
    });
  const request = await d.nextRequest();
  d.answer(request, '2.05', Buffer.from('0'), ContentFormat.TEXT, [{ name: 'Observe', value: uintBuf(1) }]);
  const result = await observed;
  if (result.kind !== 'ok') throw new Error(`observe failed: ${result.kind}`);
  return { observation: result.observation, request };
}

function notification(token: Buffer, seq: number, value: string): Packet {
  return {
    confirmable: true,
    code: '2.05',
    token,
    options: [
      { name: 'Observe', value: uintBuf(seq) },
      { name: 'Content-Format', value: uintBuf(0) },
    ],
    payload: Buffer.from(value),
  };
}

/** Sends a CON notification; resolves true when the server ACKs it, false when it answers RST. */
async function delivered(d: RawDevice, packet: Packet): Promise<boolean> {
  const mid = d.send(packet);
  const answer = await d.next((r) => r.packet.messageId === mid && (r.packet.ack || r.packet.reset));
  return answer.packet.ack;
}

describe('observations over their lifetime', () => {
  it('takes a notification only from the peer the observation was made with', async () => {
    const d = await device('owner');
    const other = await device('stranger');
    const values: unknown[] = [];
    const { request } = await observe(d, 'owner', '/5/0/3', (v) => values.push(v));
    // Right token, wrong peer: refused like an unknown token.
    expect(await delivered(other, notification(request.packet.token, 2, '7'))).toBe(false);
    expect(await delivered(d, notification(request.packet.token, 3, '3'))).toBe(true);
    expect(values).toEqual([3]);
  });

  it('cancels actively with the observation token and Observe=1, then refuses its notifications', async () => {
    const d = await device('canceller');
    const { observation, request } = await observe(d, 'canceller', '/5/0/3');
    const cancelled = observation.cancel({ active: true });
    const cancel = await d.nextRequest();
    expect(uint(option(cancel.packet, 'Observe')[0])).toBe(1);
    expect(cancel.packet.token.equals(request.packet.token)).toBe(true);
    expect(cancel.packet.messageId).not.toBe(request.packet.messageId);
    d.answer(cancel, '2.05', Buffer.from('0'), ContentFormat.TEXT);
    await cancelled;
    expect(await delivered(d, notification(request.packet.token, 5, '5'))).toBe(false);
  });

  it('keeps the other observations of a device when one is cancelled, and drops them at re-registration', async () => {
    const d = await device('three');
    const got: string[] = [];
    const a = await observe(d, 'three', '/5/0/3', (v) => got.push(`a${v}`));
    const b = await observe(d, 'three', '/5/0/5', (v) => got.push(`b${v}`));
    const c = await observe(d, 'three', '/3/0/9', (v) => got.push(`c${v}`));
    await b.observation.cancel();
    expect([...raw.server.observations.of('three')].map((o) => o.path)).toEqual(['/3/0/9', '/5/0/3']);
    expect(await delivered(d, notification(b.request.packet.token, 2, '2'))).toBe(false);
    expect(await delivered(d, notification(a.request.packet.token, 2, '2'))).toBe(true);
    expect(await delivered(d, notification(c.request.packet.token, 2, '2'))).toBe(true);
    expect(got).toEqual(['a2', 'c2']);
    // The server still knows both that are left: registering again drops them.
    expect((await d.register(['ep=three', 'lwm2m=1.1'])).code).toBe('2.01');
    expect(await delivered(d, notification(a.request.packet.token, 3, '3'))).toBe(false);
    expect(await delivered(d, notification(c.request.packet.token, 3, '3'))).toBe(false);
    expect(raw.server.observations.has('three')).toBe(false);
  });

  it('forgets a cancelled observation that was the last one made', async () => {
    const d = await device('first');
    const a = await observe(d, 'first', '/5/0/3');
    const b = await observe(d, 'first', '/5/0/5');
    await b.observation.cancel();
    expect((await d.register(['ep=first', 'lwm2m=1.1'])).code).toBe('2.01');
    expect(await delivered(d, notification(a.request.packet.token, 2, '2'))).toBe(false);
  });

  it('drops every observation of an endpoint that registers again', async () => {
    const d = await device('again');
    const first = await observe(d, 'again', '/5/0/3');
    const second = await observe(d, 'again', '/5/0/5');
    expect((await d.register(['ep=again', 'lwm2m=1.1'])).code).toBe('2.01');
    expect(await delivered(d, notification(first.request.packet.token, 2, '2'))).toBe(false);
    expect(await delivered(d, notification(second.request.packet.token, 2, '2'))).toBe(false);
    // A new observation after the re-registration works.
    const values: unknown[] = [];
    const third = await observe(d, 'again', '/5/0/3', (v) => values.push(v));
    expect(await delivered(d, notification(third.request.packet.token, 2, '4'))).toBe(true);
    expect(values).toEqual([4]);
  });
});

describe('response cache', () => {
  it('answers a retransmitted Register with the same datagram and registers once', async () => {
    const d = await raw.open();
    const registered: string[] = [];
    raw.server.on('registered', (e) => registered.push(e.registration.id));
    const register: Packet = {
      confirmable: true,
      messageId: 4242,
      code: 'POST',
      token: Buffer.from([1, 2, 3, 4]),
      options: [
        { name: 'Uri-Path', value: Buffer.from('rd') },
        { name: 'Uri-Query', value: Buffer.from('ep=dup') },
      ],
      payload: Buffer.from('</3/0>'),
    };
    d.send(register);
    const first = await d.next((r) => r.packet.messageId === 4242);
    // The cached answer has been reduced to its bytes by now (compaction runs right after sending).
    await new Promise<void>((resolve) => setImmediate(resolve));
    d.send(register);
    const again = await d.next((r) => r.packet.messageId === 4242);
    expect(first.packet.code).toBe('2.01');
    expect(again.packet).toEqual(first.packet);
    expect(registered).toHaveLength(1);
  });
});
