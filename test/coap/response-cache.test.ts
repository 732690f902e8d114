import { generate } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { ResponseCache } from '../../controller/coap/response-cache.js';

function datagram(messageId: number): Buffer {
  return generate({
    code: '2.05',
    messageId,
    token: Buffer.from([9]),
    ack: true,
    payload: Buffer.from(`answer ${messageId}`),
  });
}

function store(cache: ResponseCache, key: string, d: Buffer): void {
  cache.set(key, d);
}

describe('ResponseCache', () => {
  it('keeps a copy of the bytes, and answers duplicates with them until the TTL', () => {
    let now = 1_000;
    const cache = new ResponseCache({ maxEntries: 10, ttlMs: 500, now: () => now });
    const ack = datagram(1);
    store(cache, 'peer/1', ack);
    ack.fill(0); // the sender may reuse its buffer
    const cached = cache.peek('peer/1');
    expect(cached?.equals(datagram(1))).toBe(true);
    now += 499;
    expect(cache.peek('peer/1')?.equals(datagram(1))).toBe(true);
    now += 1;
    expect(cache.peek('peer/1')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('purges expired entries oldest first and bounds the entries', () => {
    let now = 0;
    const cache = new ResponseCache({ maxEntries: 3, ttlMs: 100, now: () => now });
    for (const i of [1, 2, 3, 4]) {
      now += 10;
      store(cache, `k${i}`, datagram(i));
    }
    // The fourth pushed out the first.
    expect(cache.size).toBe(3);
    expect(cache.peek('k1')).toBeUndefined();
    now = 135; // k2 (set at 20) and k3 (30) expired, k4 (40) not
    expect(cache.purgeStale()).toBe(true);
    expect(cache.size).toBe(1);
    expect(cache.peek('k4')).toBeDefined();
  });

  it('purges a key set again by its newer time, and evicts past entries deleted in between', () => {
    let now = 0;
    const cache = new ResponseCache({ maxEntries: 3, ttlMs: 100, now: () => now });
    store(cache, 'a', datagram(1));
    now = 10;
    store(cache, 'b', datagram(2));
    now = 20;
    store(cache, 'a', datagram(3)); // replaces the first 'a'
    now = 105; // the first 'a' (0) would be stale, the second (20) is not
    cache.purgeStale();
    expect(cache.peek('a')?.readUInt16BE(2)).toBe(3);
    expect(cache.peek('b')?.readUInt16BE(2)).toBe(2);
    expect(cache.delete('b')).toBe(true);
    store(cache, 'c', datagram(4));
    store(cache, 'd', datagram(5));
    // Full: the oldest entry still held ('a') goes, not the deleted 'b' before it.
    store(cache, 'e', datagram(6));
    expect(cache.size).toBe(3);
    expect(cache.peek('a')).toBeUndefined();
    expect(['c', 'd', 'e'].map((k) => cache.peek(k)?.readUInt16BE(2))).toEqual([4, 5, 6]);
  });

  it('stays bounded through many more answers than it holds', () => {
    let now = 0;
    const cache = new ResponseCache({ maxEntries: 100, ttlMs: 1_000, now: () => now });
    for (let i = 0; i < 5_000; i++) {
      now = i;
      store(cache, `k${i}`, datagram(i & 0xffff));
      if (i % 7 === 0) cache.delete(`k${i - 3}`);
    }
    expect(cache.size).toBeLessThanOrEqual(100);
    expect(cache.peek('k4999')?.readUInt16BE(2)).toBe(4999);
    now = 10_000;
    cache.purgeStale();
    expect(cache.size).toBe(0);
  });
});
