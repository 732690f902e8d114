import { type Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ROLLOUT_PHASES, TERMINAL_PHASES, UPDATE_PHASES } from '../../controller/store/index.js';
import { migratorOf, testBackends } from '../helpers/databases.js';

/** The update phases when 0010 ran: every one the code defines but those a later migration added. */
const PHASES_0010 = UPDATE_PHASES.filter((phase) => phase !== 'verifying');

/** An update in `phase` on a device of its own (raw SQL: the table as of any migration). */
// biome-ignore lint/suspicious/noExplicitAny: the schema as of the migration under test
async function seedUpdate(db: Kysely<any>, endpoint: string, phase: string): Promise<void> {
  const device = await sql<{ id: number }>`
    insert into devices (endpoint, updated_at) values (${endpoint}, now()) returning id`.execute(db);
  await sql`insert into firmware_updates
    (device_id, endpoint, rollout, firmware, target_version, attempt, phase, phase_changed_at, finished_at)
    values (${device.rows[0]!.id}, ${endpoint}, 'r', 'fw', '2.0.0', 1, ${phase}, now(),
      ${(TERMINAL_PHASES as readonly string[]).includes(phase) ? sql`now()` : sql`null`})`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see seedUpdate
async function seedRollout(db: Kysely<any>, name: string, phase: string): Promise<void> {
  await sql`insert into rollouts (name, spec, generation, phase) values (${name}, '{}', 'g1', ${phase})`.execute(
    db,
  );
}

describe.each(testBackends)('migration 0010 (phase checks) on $name', (backend) => {
  it('keeps rows in every phase the code defines, and refuses any other phase afterwards', async () => {
    const store = await backend.open({ migrate: false });
    try {
      const migrator = migratorOf(store);
      expect((await migrator.migrateTo('0009-update-refusals')).error).toBeUndefined();
      for (const phase of PHASES_0010) await seedUpdate(store.db, `before-${phase}`, phase);
      for (const phase of ROLLOUT_PHASES) await seedRollout(store.db, `before-${phase}`, phase);

      const migrated = await migrator.migrateTo('0010-phase-checks');
      expect(migrated.error).toBeUndefined();
      expect(migrated.results?.map((r) => r.migrationName)).toEqual(['0010-phase-checks']);

      const updates = await store.db.selectFrom('firmware_updates').select('phase').execute();
      expect(updates.map((u) => u.phase).sort()).toEqual([...PHASES_0010].sort());
      const rollouts = await store.db.selectFrom('rollouts').select('phase').execute();
      expect(rollouts.map((r) => r.phase).sort()).toEqual([...ROLLOUT_PHASES].sort());

      // Out of range: refused on insert and on update, on both tables.
      await expect(seedUpdate(store.db, 'after-queued', 'queued')).rejects.toThrow(
        /firmware_updates_phase_known/,
      );
      await expect(
        sql`update firmware_updates set phase = 'Pending' where phase = 'pending'`.execute(store.db),
      ).rejects.toThrow(/firmware_updates_phase_known/);
      await expect(seedRollout(store.db, 'after-Invalid', 'Invalid')).rejects.toThrow(/rollouts_phase_known/);
      await expect(
        sql`update rollouts set phase = 'progressing' where phase = 'Progressing'`.execute(store.db),
      ).rejects.toThrow(/rollouts_phase_known/);

      // Every phase the code defines still goes in.
      for (const phase of PHASES_0010) await seedUpdate(store.db, `after-${phase}`, phase);
      for (const phase of ROLLOUT_PHASES) await seedRollout(store.db, `after-${phase}`, phase);
    } finally {
      await store.close();
    }
  });

  it('stops on a row in a phase no version wrote, and names it', async () => {
    const store = await backend.open({ migrate: false });
    try {
      const migrator = migratorOf(store);
      expect((await migrator.migrateTo('0009-update-refusals')).error).toBeUndefined();
      await seedRollout(store.db, 'hand-written', 'Invalid');
      const refused = await migrator.migrateTo('0010-phase-checks');
      expect(String(refused.error)).toMatch(/rollouts\.phase = 'Invalid' \(1 rows\)/);
      await sql`update rollouts set phase = 'Progressing'`.execute(store.db);
      expect((await migrator.migrateTo('0010-phase-checks')).error).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
