import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { beginUpdates } from '../../controller/reconcile/write/update-store.js';
import { testBackends } from '../helpers/databases.js';

describe.each(testBackends)('starting a whole large fleet at once on $name', (backend) => {
  it('starts 3,000 updates in one statement, each with its event', async () => {
    const store = await backend.open();
    try {
      const db = store.db;
      // As startUpdates sends them: a multi-row VALUES of these would need 39,000 parameters, more
      // than PGlite's protocol parser takes (32,767).
      await sql`insert into devices (endpoint, updated_at)
        select 'dev-' || i, now() from generate_series(1, 3000) i`.execute(db);
      const devices = await db.selectFrom('devices').select(['id', 'endpoint']).orderBy('id').execute();
      const now = new Date();
      const started = await beginUpdates(
        db,
        devices.map((d) => ({
          device_id: d.id,
          endpoint: d.endpoint,
          rollout: 'r',
          firmware: 'fw',
          target_version: '2.0.0',
          from_version: '1.0.0',
          attempt: 1,
          git_revision: 'abc123',
          created_at: now,
          phase_changed_at: now,
          deadline_at: now,
        })),
        (u) => ({
          type: 'UpdateStarted',
          message: `${u.endpoint} started`,
          details: { from: u.from_version },
        }),
      );
      expect(started).toHaveLength(3000);
      expect(started.every((row) => row.phase === 'pending' && row.finished_at === null)).toBe(true);
      const events = await sql<{ n: number; matching: number }>`
        select count(*)::int as n,
          count(*) filter (where e.message = u.endpoint || ' started' and e.details->>'from' = '1.0.0')::int as matching
        from events e join firmware_updates u on u.id = e.update_id`.execute(db);
      expect(events.rows[0]).toEqual({ n: 3000, matching: 3000 });
    } finally {
      await store.close();
    }
  });
});
