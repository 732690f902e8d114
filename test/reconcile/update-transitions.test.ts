import { describe, expect, it } from 'vitest';
import { QueryCounter } from '../../bench/query-counter.js';
import { TransitionWriter } from '../../controller/reconcile/transition-writer.js';
import { type Transition, transitionUpdates } from '../../controller/reconcile/update-store.js';
import type { ActivePhase, OpenDatabase, UpdatePhase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';

/** Devices dev-0..dev-(n-1), each with one active update in `phase`; returns the update ids. */
async function seedUpdates(store: OpenDatabase, n: number, phase: ActivePhase): Promise<number[]> {
  const now = new Date();
  const devices = await store.db
    .insertInto('devices')
    .values(Array.from({ length: n }, (_, i) => ({ endpoint: `dev-${i}`, updated_at: now })))
    .returning(['id', 'endpoint'])
    .execute();
  const rows = await store.db
    .insertInto('firmware_updates')
    .values(
      devices.map((d) => ({
        device_id: d.id,
        endpoint: d.endpoint,
        rollout: 'r',
        firmware: 'fw',
        target_version: '2.0.0',
        attempt: 1,
        phase,
        git_revision: 'abc123',
        phase_changed_at: now,
        deadline_at: new Date(now.getTime() + 60_000),
        package_uri: 'http://old/fw.bin',
      })),
    )
    .returning('id')
    .execute();
  return rows.map((r) => Number(r.id));
}

function transition(
  id: number,
  from: ActivePhase[],
  phase: UpdatePhase,
  extra: Partial<Transition> = {},
): Transition {
  return {
    id,
    from,
    phase,
    phaseChangedAt: new Date(),
    changes: {},
    event: { type: 'Moved', message: `moved ${id} to ${phase}`, details: { to: phase } },
    ...extra,
  };
}

describe.each(testBackends)('update transitions on $name', (backend) => {
  it('moves only rows still in their `from` phase, each with its event, in one statement', async () => {
    const store = await backend.open();
    try {
      const ids = await seedUpdates(store, 3, 'downloading');
      await store.db
        .updateTable('firmware_updates')
        .set({ phase: 'downloaded' })
        .where('id', '=', ids[2]!)
        .execute();
      const counter = new QueryCounter();
      const db = store.db.withPlugin(counter);
      const at = new Date('2026-01-02T03:04:05.678Z');
      const moved = await transitionUpdates(db, [
        transition(ids[0]!, ['downloading'], 'downloaded', {
          changes: { state: 2, downloaded_at: at, deadline_at: null },
        }),
        transition(ids[1]!, ['pending', 'downloading'], 'cancelling', { changes: { package_uri: null } }),
        transition(ids[2]!, ['downloading'], 'downloaded'),
      ]);
      expect(counter.count).toBe(1);
      expect([...moved].sort()).toEqual([ids[0], ids[1]].sort());

      const rows = await store.db.selectFrom('firmware_updates').selectAll().orderBy('id').execute();
      expect(rows.map((r) => r.phase)).toEqual(['downloaded', 'cancelling', 'downloaded']);
      // Set columns change, explicit nulls clear, the others stay.
      expect(rows[0]).toMatchObject({ state: 2, deadline_at: null, package_uri: 'http://old/fw.bin' });
      expect(rows[0]!.downloaded_at?.toISOString()).toBe(at.toISOString());
      expect(rows[1]).toMatchObject({ package_uri: null, state: 0 });
      expect(rows[1]!.deadline_at).not.toBeNull();

      const events = await store.db.selectFrom('events').selectAll().orderBy('id').execute();
      expect(events.map((e) => [Number(e.update_id), e.type, e.rollout, e.endpoint, e.git_revision])).toEqual(
        expect.arrayContaining([
          [ids[0], 'Moved', 'r', 'dev-0', 'abc123'],
          [ids[1], 'Moved', 'r', 'dev-1', 'abc123'],
        ]),
      );
      expect(events).toHaveLength(2);
      expect(events.find((e) => Number(e.update_id) === ids[1])?.details).toEqual({ to: 'cancelling' });
    } finally {
      await store.close();
    }
  });

  it('batches concurrent moves into one statement and tells each caller whether its row moved', async () => {
    const store = await backend.open();
    try {
      const ids = await seedUpdates(store, 4, 'downloaded');
      const counter = new QueryCounter();
      const writer = new TransitionWriter(store.db.withPlugin(counter));
      // Two claims of the same update: only the first moves it; the second waits for the next
      // statement and finds the row gone from `downloaded`.
      const claims = [
        ...ids.map((id) =>
          writer.move(transition(id, ['downloaded'], 'updating', { changes: { state: 3 } })),
        ),
        writer.move(transition(ids[0]!, ['downloaded'], 'updating', { changes: { state: 3 } })),
      ];
      expect(await Promise.all(claims)).toEqual([true, true, true, true, false]);
      expect(counter.count).toBe(2);
      const claimed = await store.db
        .selectFrom('events')
        .select('update_id')
        .where('type', '=', 'Moved')
        .execute();
      expect(claimed).toHaveLength(4);
    } finally {
      await store.close();
    }
  });

  it('fails only the caller whose row the database refuses', async () => {
    const store = await backend.open();
    try {
      const ids = await seedUpdates(store, 3, 'updating');
      const writer = new TransitionWriter(store.db);
      const results = await Promise.allSettled([
        writer.move(transition(ids[0]!, ['updating'], 'succeeded', { changes: { finished_at: new Date() } })),
        // A finished phase without finished_at breaks firmware_updates_finished_consistent.
        writer.move(transition(ids[1]!, ['updating'], 'failed')),
        writer.move(transition(ids[2]!, ['updating'], 'downloaded', { changes: { state: 2 } })),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const rows = await store.db.selectFrom('firmware_updates').select('phase').orderBy('id').execute();
      expect(rows.map((r) => r.phase)).toEqual(['succeeded', 'updating', 'downloaded']);
      const events = await store.db.selectFrom('events').select('update_id').execute();
      expect(events.map((e) => Number(e.update_id)).sort()).toEqual([ids[0], ids[2]].sort());
    } finally {
      await store.close();
    }
  });
});
