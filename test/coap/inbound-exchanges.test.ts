import { generate, parse } from 'coap-packet';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Peer } from '../../controller/coap/address.js';
import { InboundExchanges } from '../../controller/coap/inbound-exchanges.js';
import { ResponseCache } from '../../controller/coap/response-cache.js';
import { FLEET_TIMING } from '../../controller/coap/timing.js';

const peer: Peer = { address: '127.0.0.1', port: 40_000 };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});

afterEach(() => {
  vi.useRealTimers();
});

function setUp(piggybackMs: number) {
  const sent: Buffer[] = [];
  let nextMid = 500;
  const exchanges = new InboundExchanges({
    send: (datagram) => sent.push(datagram),
    cache: new ResponseCache({ maxEntries: 100, ttlMs: 60_000, now: () => Math.floor(performance.now()) }),
    nextMessageId: () => nextMid++,
    timing: { ...FLEET_TIMING, ackTimeoutMs: 100, ackRandomFactor: 1, maxRetransmit: 3 },
    piggybackMs,
  });
  return { exchanges, sent, parsed: () => sent.map((d) => parse(d)) };
}

function request(messageId: number) {
  return parse(
    generate({
      code: '0.02',
      confirmable: true,
      messageId,
      token: Buffer.from([7]),
      options: [{ name: 'Uri-Path', value: Buffer.from('rd') }],
    }),
  );
}

describe('InboundExchanges', () => {
  it('retransmits a separate response with backoff until it is acknowledged, then stops', () => {
    const t = setUp(50);
    const req = t.exchanges.open(request(1), peer)!;
    vi.advanceTimersByTime(50);
    expect(t.parsed().map((p) => [p.code, p.ack, p.messageId])).toEqual([['0.00', true, 1]]);
    req.answer({ code: '2.04' });
    vi.advanceTimersByTime(100); // ACK_TIMEOUT
    vi.advanceTimersByTime(200); // doubled
    const separate = t.parsed().slice(1);
    expect(separate.map((p) => [p.code, p.confirmable, p.messageId])).toEqual([
      ['2.04', true, 500],
      ['2.04', true, 500],
      ['2.04', true, 500],
    ]);
    expect(t.exchanges.pending.separateResponses).toBe(1);
    const ack = parse(generate({ code: '0.00', ack: true, messageId: 500 }));
    expect(t.exchanges.settle(ack, peer)).toBe(true);
    expect(t.exchanges.pending.separateResponses).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(t.sent).toHaveLength(4);
    // An ACK for nothing of ours is left to the other handlers.
    expect(t.exchanges.settle(ack, peer)).toBe(false);
  });

  it('gives up on a separate response after MAX_RETRANSMIT', () => {
    const t = setUp(10);
    const req = t.exchanges.open(request(2), peer)!;
    vi.advanceTimersByTime(10);
    req.answer({ code: '2.01' });
    vi.advanceTimersByTime(100 + 200 + 400 + 800);
    expect(t.sent).toHaveLength(1 + 4);
    expect(t.exchanges.pending.separateResponses).toBe(0);
  });

  it('answers on the ACK within the window, and ignores a second answer', () => {
    const t = setUp(1000);
    const req = t.exchanges.open(request(3), peer)!;
    vi.advanceTimersByTime(999);
    req.answer({ code: '2.01', options: [{ name: 8, value: Buffer.from('rd') }] });
    req.answer({ code: '5.00' });
    vi.advanceTimersByTime(5000);
    expect(t.parsed().map((p) => [p.code, p.ack, p.messageId])).toEqual([['2.01', true, 3]]);
    expect(t.exchanges.pending).toEqual({ requests: 0, separateResponses: 0 });
  });
});
