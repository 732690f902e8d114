import { type Kysely, sql } from 'kysely';

/**
 * `firmware_updates.phase` and `rollouts.phase` take only the phases the code defines
 * (controller/store/update-phase.ts, controller/store/rollout-phase.ts); the lists are spelled out
 * here, as they were when this migration was written, and test/store/phase-checks-migration.test.ts
 * holds them to the code's.
 *
 * No version of otactl wrote any other value (the update phases are unchanged since the first
 * migration; rollout phases were only ever added, and `Invalid`, which was dropped, was never
 * written), so no row needs mapping. Should a database still hold one (written by hand), the
 * migration stops and names it rather than guess what it meant.
 */
const UPDATE_PHASES = [
  'pending',
  'downloading',
  'downloaded',
  'updating',
  'cancelling',
  'succeeded',
  'failed',
  'cancelled',
];
const ROLLOUT_PHASES = [
  'Progressing',
  'Paused',
  'Completed',
  'Degraded',
  'NoDevices',
  'Aborted',
  'Suspended',
  'Conflict',
  'Removed',
];

const list = (phases: readonly string[]) => sql.join(phases.map((p) => sql.lit(p)));

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  const unknown = await sql<{ source: string; phase: string; n: string | number }>`
    select 'firmware_updates' as source, phase, count(*) as n from firmware_updates
      where phase not in (${list(UPDATE_PHASES)}) group by phase
    union all
    select 'rollouts', phase, count(*) from rollouts
      where phase not in (${list(ROLLOUT_PHASES)}) group by phase`.execute(db);
  if (unknown.rows.length > 0) {
    const found = unknown.rows.map((r) => `${r.source}.phase = '${r.phase}' (${r.n} rows)`).join(', ');
    throw new Error(`phases no version of otactl writes, fix or delete these rows first: ${found}`);
  }
  await sql`alter table firmware_updates
    add constraint firmware_updates_phase_known check (phase in (${list(UPDATE_PHASES)}))`.execute(db);
  await sql`alter table rollouts
    add constraint rollouts_phase_known check (phase in (${list(ROLLOUT_PHASES)}))`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table firmware_updates drop constraint firmware_updates_phase_known`.execute(db);
  await sql`alter table rollouts drop constraint rollouts_phase_known`.execute(db);
}
