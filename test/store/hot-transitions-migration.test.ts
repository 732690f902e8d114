import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { type Transition, transitionUpdates } from '../../controller/reconcile/write/update-store.js';
import { migratorOf, testBackends } from '../helpers/databases.js';

describe.each(testBackends)('migration 0028 (HOT transitions) on $name', (backend) => {
  it('keeps the outcome of finished updates, and moves an active update without touching an index', async () => {
    const store = await backend.open({ migrate: false });
    try {
      const migrator = migratorOf(store);
      expect((await migrator.migrateTo('0027-error-code-followed')).error).toBeUndefined();
      const devices = await sql<{ id: number }>`
        insert into devices (endpoint, updated_at) values ('d1', now()), ('d2', now()) returning id`.execute(
        store.db,
      );
      const [d1, d2] = devices.rows.map((r) => r.id);
      await sql`insert into firmware_updates
        (device_id, endpoint, rollout, firmware, target_version, attempt, phase, phase_changed_at, finished_at, retryable)
        values (${d1}, 'd1', 'r', 'fw', '2.0.0', 1, 'failed', now(), now(), true)`.execute(store.db);
      const active = await sql<{ id: string | number }>`insert into firmware_updates
        (device_id, endpoint, rollout, firmware, target_version, attempt, phase, phase_changed_at)
        values (${d2}, 'd2', 'r', 'fw', '2.0.0', 1, 'pending', now()) returning id`.execute(store.db);
      const id = Number(active.rows[0]!.id);

      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      const outcomes = async () =>
        (
          await store.db
            .selectFrom('firmware_updates')
            .select(['endpoint', 'outcome'])
            .orderBy('endpoint')
            .execute()
        ).map((r) => [r.endpoint, r.outcome]);
      expect(await outcomes()).toEqual([
        ['d1', 'failed'],
        ['d2', null],
      ]);

      const move = (
        from: Transition['from'],
        phase: Transition['phase'],
        type: string,
        changes = {},
      ): Transition => ({
        id,
        from,
        phase,
        phaseChangedAt: new Date(),
        changes,
        event: { type, message: `to ${phase}` },
      });
      const at = new Date();
      // The moves of an active update, then its end: in one transaction, whose own counters say
      // which row versions were HOT (rewritten in place, no index entry).
      const hot = await store.db.transaction().execute(async (trx) => {
        const hotUpdates = async () =>
          Number(
            (
              await sql<{ n: string | number }>`
                select pg_stat_get_xact_tuples_hot_updated('firmware_updates'::regclass) as n`.execute(trx)
            ).rows[0]!.n,
          );
        const counts: number[] = [];
        const steps: Transition[] = [
          move(['pending'], 'downloading', 'PackageUriWritten', {
            package_uri: 'coap://fw/1',
            uri_written_at: at,
            deadline_at: new Date(at.getTime() + 60_000),
          }),
          move(['downloading'], 'downloaded', 'DownloadCompleted', {
            state: 2,
            downloaded_at: at,
            deadline_at: null,
          }),
          move(['downloaded'], 'updating', 'UpdateExecuted', {
            executed_at: at,
            deadline_at: new Date(at.getTime() + 60_000),
          }),
          move(['updating'], 'succeeded', 'UpdateSucceeded', {
            state: 0,
            result: 1,
            finished_at: at,
            deadline_at: null,
          }),
        ];
        for (const step of steps) {
          expect(await transitionUpdates(trx, [step])).toEqual(new Set([id]));
          counts.push(await hotUpdates());
        }
        return counts;
      });
      // Every move while active is HOT; the end (finished_at, in the indexes' predicates) is not.
      expect(hot).toEqual([1, 2, 3, 3]);
      expect(await outcomes()).toEqual([
        ['d1', 'failed'],
        ['d2', 'succeeded'],
      ]);

      expect((await migrator.migrateTo('0027-error-code-followed')).error).toBeUndefined();
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      expect(await outcomes()).toEqual([
        ['d1', 'failed'],
        ['d2', 'succeeded'],
      ]);
    } finally {
      await store.close();
    }
  });
});
