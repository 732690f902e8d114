import { generate } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { type CachedDatagram, ResponseCache } from '../../controller/coap/response-cache.js';

/** node-coap's retry sender, as far as the cache uses it. */
class Sender {
  resets = 0;
  reset(): void {
    this.resets++;
  }
}

function datagram(type: 'ack' | 'con', messageId: number): CachedDatagram {
  return generate({
    code: '2.05',
    messageId,
    token: Buffer.from([9]),
    ack: type === 'ack',
    confirmable: type === 'con',
    payload: Buffer.from(`answer ${messageId}`),
  });
}

/** What node-coap does: store the datagram, then attach its sender and send it, synchronously. */
function store(cache: ResponseCache, key: string, d: CachedDatagram): Sender {
  const sender = new Sender();
  cache.set(key, d);
  d.sender = sender;
  return sender;
}

const flushMicrotasks = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ResponseCache', () => {
  it('keeps only the bytes of a sent ACK, and answers duplicates with them until the TTL', async () => {
    let now = 1_000;
    const cache = new ResponseCache({ maxEntries: 10, ttlMs: 500, now: () => now });
    const ack = datagram('ack', 1);
    const sender = store(cache, 'peer/1', ack);
    await flushMicrotasks();
    const cached = cache.peek('peer/1');
    expect(cached).not.toBe(ack);
    expect(cached?.equals(ack)).toBe(true);
    expect(cached?.sender).toBeUndefined();
    expect(sender.resets).toBe(1);
    now += 499;
    expect(cache.peek('peer/1')?.equals(ack)).toBe(true);
    now += 1;
    expect(cache.peek('peer/1')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps a CON response whole until it is acknowledged (deleted), and stops its retransmission then', async () => {
    const cache = new ResponseCache({ maxEntries: 10, ttlMs: 500, now: () => 0 });
    const con = datagram('con', 2);
    const sender = store(cache, 'peer/2', con);
    await flushMicrotasks();
    expect(cache.peek('peer/2')).toBe(con);
    expect(sender.resets).toBe(0);
    expect(cache.delete('peer/2')).toBe(true);
    expect(sender.resets).toBe(1);
  });

  it('purges expired entries oldest first and bounds the entries', async () => {
    let now = 0;
    const cache = new ResponseCache({ maxEntries: 3, ttlMs: 100, now: () => now });
    const senders = [1, 2, 3, 4].map((i) => {
      now += 10;
      return store(cache, `k${i}`, datagram('con', i));
    });
    // The fourth pushed out the first, whose retransmission stops.
    expect(cache.size).toBe(3);
    expect(cache.peek('k1')).toBeUndefined();
    expect(senders[0]!.resets).toBe(1);
    now = 135; // k2 (set at 20) and k3 (30) expired, k4 (40) not
    expect(cache.purgeStale()).toBe(true);
    expect(cache.size).toBe(1);
    expect(cache.peek('k4')).toBeDefined();
    expect(senders.map((s) => s.resets)).toEqual([1, 1, 1, 0]);
  });

  it('purges a key set again by its newer time, and evicts past entries deleted in between', async () => {
    let now = 0;
    const cache = new ResponseCache({ maxEntries: 3, ttlMs: 100, now: () => now });
    store(cache, 'a', datagram('ack', 1));
    now = 10;
    store(cache, 'b', datagram('ack', 2));
    now = 20;
    store(cache, 'a', datagram('ack', 3)); // replaces the first 'a'
    now = 105; // the first 'a' (0) would be stale, the second (20) is not
    cache.purgeStale();
    expect(cache.peek('a')?.readUInt16BE(2)).toBe(3);
    expect(cache.peek('b')?.readUInt16BE(2)).toBe(2);
    expect(cache.delete('b')).toBe(true);
    store(cache, 'c', datagram('ack', 4));
    store(cache, 'd', datagram('ack', 5));
    // Full: the oldest entry still held ('a') goes, not the deleted 'b' before it.
    store(cache, 'e', datagram('ack', 6));
    expect(cache.size).toBe(3);
    expect(cache.peek('a')).toBeUndefined();
    expect(['c', 'd', 'e'].map((k) => cache.peek(k)?.readUInt16BE(2))).toEqual([4, 5, 6]);
  });

  it('stays bounded through many more answers than it holds', async () => {
    let now = 0;
    const cache = new ResponseCache({ maxEntries: 100, ttlMs: 1_000, now: () => now });
    for (let i = 0; i < 5_000; i++) {
      now = i;
      store(cache, `k${i}`, datagram('ack', i & 0xffff));
      if (i % 7 === 0) cache.delete(`k${i - 3}`);
    }
    expect(cache.size).toBeLessThanOrEqual(100);
    expect(cache.peek('k4999')?.readUInt16BE(2)).toBe(4999);
    now = 10_000;
    cache.purgeStale();
    expect(cache.size).toBe(0);
  });
});
