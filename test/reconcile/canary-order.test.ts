import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { canaryKey } from '../../controller/reconcile/canary-order.js';
import { testBackends } from '../helpers/databases.js';

describe.each(testBackends)('the canary rank key on $name', (backend) => {
  it('is the same number in JavaScript and in the database', async () => {
    const store = await backend.open();
    try {
      const endpoints = ['sim-000001', 'tracker-42', 'ünïcode-ep', ''];
      for (const endpoint of endpoints) {
        const row = await sql<{ k: number }>`
          select ('x' || substr(md5(${'r1'} || ':' || ${endpoint}), 1, 8))::bit(32)::int as k`.execute(
          store.db,
        );
        expect(Number(row.rows[0]?.k)).toBe(canaryKey('r1', endpoint));
      }
    } finally {
      await store.close();
    }
  });
});
