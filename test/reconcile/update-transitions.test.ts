import { describe, expect, it } from 'vitest';
import { QueryCounter } from '../../bench/query-counter.js';
import { TransitionWriter } from '../../controller/reconcile/write/transition-writer.js';
import { type Transition, transitionUpdates } from '../../controller/reconcile/write/update-store.js';
import {
  type ActivePhase,
  ALL_UPDATE_MOVES,
  type OpenDatabase,
  type UpdatePhase,
} from '../../controller/store/index.js';
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

/** The first event type the table of moves has for this move ('Illegal' where it has none). */
function eventOf(from: ActivePhase, to: UpdatePhase): string {
  return ALL_UPDATE_MOVES.find((m) => m.from === from && m.to === to)?.event ?? 'Illegal';
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
    event: { type: eventOf(from[0]!, phase), message: `moved ${id} to ${phase}`, details: { to: phase } },
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
        transition(ids[1]!, ['downloading', 'downloaded'], 'cancelling', { changes: { package_uri: null } }),
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
          [ids[0], 'DownloadCompleted', 'r', 'dev-0', 'abc123'],
          [ids[1], 'UpdateCancelling', 'r', 'dev-1', 'abc123'],
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
        .where('type', '=', 'UpdateExecuted')
        .execute();
      expect(claimed).toHaveLength(4);
    } finally {
      await store.close();
    }
  });

  it('refuses a move the table lacks before writing anything', async () => {
    const store = await backend.open();
    try {
      const ids = await seedUpdates(store, 2, 'pending');
      await expect(
        transitionUpdates(store.db, [
          transition(ids[0]!, ['pending'], 'downloading'),
          transition(ids[1]!, ['pending'], 'updating'),
        ]),
      ).rejects.toThrow(/does not move from pending to updating/);
      const writer = new TransitionWriter(store.db);
      const results = await Promise.allSettled([
        writer.move(transition(ids[0]!, ['pending'], 'downloading')),
        // A legal pair with the event of another move is refused too.
        writer.move({
          ...transition(ids[1]!, ['pending'], 'downloading'),
          event: { type: 'DeviceReset', message: 'x' },
        }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
      const rows = await store.db.selectFrom('firmware_updates').select('phase').orderBy('id').execute();
      expect(rows.map((r) => r.phase)).toEqual(['downloading', 'pending']);
      const events = await store.db.selectFrom('events').select(['update_id', 'type']).execute();
      expect(events.map((e) => [Number(e.update_id), e.type])).toEqual([[ids[0], 'PackageUriWritten']]);
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
