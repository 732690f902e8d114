import { generate } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { type CachedDatagram, ResponseCache } from '../../controller/lwm2m/transport/response-cache.js';

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
});
