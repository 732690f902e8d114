import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  canaryKey,
  canaryKeySql,
  canaryOrder,
  endpointHash,
} from '../../controller/reconcile/read/canary-order.js';
import { testBackends } from '../helpers/databases.js';

describe.each(testBackends)('the canary rank key on $name', (backend) => {
  it('is the same number in JavaScript and in the database', async () => {
    const store = await backend.open();
    try {
      const endpoints = ['sim-000001', 'tracker-42', 'ünïcode-ep', '', 'x'.repeat(300)];
      const now = new Date();
      await store.db
        .insertInto('devices')
        .values(endpoints.map((endpoint) => ({ endpoint, updated_at: now })))
        .execute();
      for (const rollout of ['r1', 'fleet-wide-2.0', 'ünï']) {
        const rows = await sql<{ endpoint: string; canary_hash: number; k: string }>`
          select d.endpoint, d.canary_hash, (${canaryKeySql(rollout)})::text as k from devices d`.execute(
          store.db,
        );
        expect(rows.rows).toHaveLength(endpoints.length);
        for (const row of rows.rows) {
          expect(row.canary_hash).toBe(endpointHash(row.endpoint));
          expect(BigInt(row.k)).toBe(canaryKey(rollout, row.endpoint));
        }
      }
    } finally {
      await store.close();
    }
  });
});

describe('the canary order', () => {
  const endpoints = Array.from({ length: 10_000 }, (_, i) => `sim-${String(i).padStart(6, '0')}`);

  it('is a property of the names alone: the same for any listing of the same endpoints', () => {
    const order = canaryOrder('fw-2.0', endpoints);
    expect(canaryOrder('fw-2.0', [...endpoints].reverse())).toEqual(order);
    expect(new Set(order).size).toBe(endpoints.length);
  });

  it('is drawn anew for every rollout: two rollouts share their canaries only by chance', () => {
    // For independent draws of 10% each, about 10% of one canary set is in the other.
    const canaries = (rollout: string) => new Set(canaryOrder(rollout, endpoints).slice(0, 1000));
    const names = ['fw-2.0', 'fw-2.1', 'fw-2.0-hotfix', 'modem-7', 'a', 'b'];
    for (const [i, a] of names.entries()) {
      for (const b of names.slice(i + 1)) {
        const first = canaries(a);
        const shared = [...canaries(b)].filter((e) => first.has(e)).length;
        expect(shared, `${a} and ${b}`).toBeGreaterThan(60);
        expect(shared, `${a} and ${b}`).toBeLessThan(140);
      }
    }
  });

  it("does not follow the endpoints' names", () => {
    // The first 10% in canary order come from all over the name range, not from one end of it.
    const first = canaryOrder('fw-2.0', endpoints).slice(0, 1000);
    const tenths = new Set(first.map((e) => Math.floor(Number(e.slice(4)) / 1000)));
    expect(tenths.size).toBe(10);
  });
});
