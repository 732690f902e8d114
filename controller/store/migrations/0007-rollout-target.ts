import { type Kysely, sql } from 'kysely';

/**
 * The target (firmware name and version) a rollout's strategy state belongs to. A new target is a
 * new rollout of the same name (controller/reconcile/plan/rollout-target.ts): the strategy starts again
 * at step 1, and only updates of the new target count for it.
 * - `target_firmware`, `target_version`: the target the stored step, pause and approvals belong
 *   to; filled from the stored spec for rollouts that were there before;
 * - `target_since_update_id`: the highest `firmware_updates.id` when that target began: the
 *   rollout's updates of the target with a higher id are its own, older ones (an earlier time the
 *   same version was the target, before a revert) are history;
 * - `approved_baseline`: `spec.strategy.approved` when the target began; each manual pause of the
 *   target needs `approved` raised above it;
 * - `target_change`: the last change, for the status (`{ from, to, revision, at }`), or null.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table rollouts
    add column target_firmware text,
    add column target_version text,
    add column target_since_update_id bigint not null default 0 check (target_since_update_id >= 0),
    add column approved_baseline integer not null default 0 check (approved_baseline >= 0),
    add column target_change jsonb`.execute(db);
  await sql`update rollouts
    set target_firmware = spec->>'firmware', target_version = spec->>'targetVersion'`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table rollouts
    drop column target_change, drop column approved_baseline, drop column target_since_update_id,
    drop column target_version, drop column target_firmware`.execute(db);
}
