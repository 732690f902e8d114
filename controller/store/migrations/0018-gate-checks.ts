import { type Kysely, sql } from 'kysely';

/**
 * Answers of a rollout's gate (`spec.verify.gate`, issue 21): the last answer per step of a
 * target (`since_update_id` is the rollout's target epoch, see rollouts.target_since_update_id).
 * The planner reads them; a step starts only on a `passed` row, so a restarted controller neither
 * asks again for a step already let through nor starts one that was refused.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table rollout_gate_checks (
    rollout text not null,
    since_update_id bigint not null,
    step integer not null check (step >= 1),
    verdict text not null check (verdict in ('passed', 'refused')),
    http_status integer check (http_status between 100 and 599),
    reason text not null check (length(reason) <= 500),
    checked_at timestamptz not null default now(),
    primary key (rollout, since_update_id, step)
  )`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table rollout_gate_checks`.execute(db);
}
