import { describe, expect, it } from 'vitest';
import { ContentFormat } from '../../controller/lwm2m/content-format.js';
import type { NotificationResult } from '../../controller/lwm2m/downlink/results.js';
import { option, pathOf, uint, uintBuf } from './support/raw-device.js';
import { rawDeviceServer } from './support/raw-device-server.js';

const raw = rawDeviceServer(() => ({
  timing: { ackTimeoutMs: 100, maxRetransmit: 2, responseTimeoutMs: 2000 },
}));
const device = raw.registered;

describe('requests on the wire', () => {
  it('sends CON requests from the registration port with fresh message ids and tokens', async () => {
    const d = await device('raw1');
    const reads = [raw.server.device('raw1').read('/3/0/3', { format: ContentFormat.TEXT })];
    const first = await d.nextRequest();
    d.answer(first, '2.05', Buffer.from('v1'), ContentFormat.TEXT);
    await reads[0];
    const second = raw.server.device('raw1').read('/3/0/3', { format: ContentFormat.TEXT });
    const req2 = await d.nextRequest();
    d.answer(req2, '2.05', Buffer.from('v2'), ContentFormat.TEXT);
    expect(await second).toMatchObject({ kind: 'ok', records: [{ path: '/3/0/3', value: 'v2' }] });
    for (const r of [first, req2]) {
      expect(r.rinfo.port).toBe(raw.server.address().port);
      expect(r.packet.confirmable).toBe(true);
      expect(r.packet.token.length).toBeGreaterThanOrEqual(4);
      expect(pathOf(r.packet)).toBe('/3/0/3');
      expect(uint(option(r.packet, 'Accept')[0])).toBe(ContentFormat.TEXT);
    }
    expect(req2.packet.messageId).not.toBe(first.packet.messageId);
    expect(req2.packet.token.equals(first.packet.token)).toBe(false);
  });

  it('retransmits with the same message id and token, then reports a timeout', async () => {
    const d = await device('silent');
    const result = raw.server.device('silent').read('/3/0/3');
    const tries = [await d.nextRequest(), await d.nextRequest(), await d.nextRequest()];
    expect(new Set(tries.map((t) => t.packet.messageId)).size).toBe(1);
    expect(new Set(tries.map((t) => t.packet.token.toString('hex'))).size).toBe(1);
    expect(await result).toEqual({ kind: 'timeout' });
  });

  it('accepts an empty ACK followed by a separate CON response, and ACKs it', async () => {
    const d = await device('slow');
    const result = raw.server.device('slow').read('/3/0/3', { format: ContentFormat.TEXT });
    const req = await d.nextRequest();
    d.send({ messageId: req.packet.messageId, ack: true, code: '0.00' });
    const mid = d.send({
      confirmable: true,
      code: '2.05',
      token: req.packet.token,
      options: [{ name: 'Content-Format', value: uintBuf(0) }],
      payload: Buffer.from('late'),
    });
    expect(await result).toMatchObject({ kind: 'ok', records: [{ value: 'late' }] });
    const ack = await d.next((r) => r.packet.ack && r.packet.messageId === mid);
    expect(ack.packet.code).toBe('0.00');
  });

  it('reports a RST from the device as unreachable', async () => {
    const d = await device('rst');
    const result = raw.server.device('rst').read('/3/0/3');
    const req = await d.nextRequest();
    d.send({ messageId: req.packet.messageId, reset: true, code: '0.00' });
    expect(await result).toMatchObject({ kind: 'unreachable' });
  });
});

describe('matching by peer', () => {
  it('never gives one device the answer another device sent with the same message id', async () => {
    const a = await device('peer-a');
    const b = await device('peer-b');
    const readA = raw.server.device('peer-a').read('/3/0/3', { format: ContentFormat.TEXT });
    const readB = raw.server.device('peer-b').read('/3/0/3', { format: ContentFormat.TEXT });
    const reqA = await a.nextRequest();
    const reqB = await b.nextRequest();
    // B answers with A's message id and token: a stray (or forged) message from the wrong peer.
    b.send({
      messageId: reqA.packet.messageId,
      ack: true,
      code: '2.05',
      token: reqA.packet.token,
      options: [{ name: 'Content-Format', value: uintBuf(0) }],
      payload: Buffer.from('from-b'),
    });
    b.answer(reqB, '2.05', Buffer.from('b-value'), ContentFormat.TEXT);
    expect(await readB).toMatchObject({ kind: 'ok', records: [{ value: 'b-value' }] });
    a.answer(reqA, '2.05', Buffer.from('a-value'), ContentFormat.TEXT);
    expect(await readA).toMatchObject({ kind: 'ok', records: [{ value: 'a-value' }] });
  });
});

describe('notifications from a raw device', () => {
  it('orders CON and NON notifications by sequence number and drops older and duplicate ones', async () => {
    const d = await device('notifier');
    const got: NotificationResult[] = [];
    let wake: (() => void) | undefined;
    const observed = raw.server.device('notifier').observe(
      '/5/0/3',
      (n) => {
        got.push(n);
        wake?.();
      },
      { format: ContentFormat.TEXT },
    );
    const req = await d.nextRequest();
    expect(uint(option(req.packet, 'Observe')[0])).toBe(0);
    const token = req.packet.token;
    const notif = (seq: number, value: string, confirmable: boolean) =>
      d.send({
        confirmable,
        code: '2.05',
        token,
        options: [
          { name: 'Observe', value: uintBuf(seq) },
          { name: 'Content-Format', value: uintBuf(0) },
        ],
        payload: Buffer.from(value),
      });
    d.answer(req, '2.05', Buffer.from('0'), ContentFormat.TEXT, [{ name: 'Observe', value: uintBuf(10) }]);
    const result = await observed;
    expect(result.kind).toBe('ok');
    const mid = notif(12, '2', true);
    expect((await d.next((r) => r.packet.ack && r.packet.messageId === mid)).packet.code).toBe('0.00');
    notif(11, '1', false); // older: dropped
    notif(12, '2', false); // duplicate: dropped
    const arrived = new Promise<void>((r) => {
      wake = () => got.length === 2 && r();
    });
    notif(13, '3', false);
    await arrived;
    expect(got.map((n) => (n.kind === 'ok' ? n.records[0]?.value : n.kind))).toEqual([2, 3]);
    if (result.kind === 'ok') await result.observation.cancel();
    const stale = notif(14, '4', true);
    expect((await d.next((r) => r.packet.messageId === stale)).packet.reset).toBe(true);
  });
});
