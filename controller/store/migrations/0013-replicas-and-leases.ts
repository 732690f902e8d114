import { type Kysely, sql } from 'kysely';

/**
 * Several controller processes on one Postgres (issue 20). `replicas`: one row per process, its
 * heartbeat timed by the database clock, so replicas whose clocks differ still agree on who is
 * silent. `leases`: a named lease (the planner's is `planner`) held by one replica until
 * `expires_at`; `epoch` grows by one at every acquisition, and leader-only writes check it in their
 * transaction (controller/replicas/fence.ts), so a replica that lost the lease cannot write.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table replicas (
    id text primary key check (length(id) between 1 and 200),
    started_at timestamptz not null default now(),
    heartbeat_at timestamptz not null default now(),
    version text not null check (length(version) <= 100),
    addresses jsonb not null default '{}'::jsonb
  )`.execute(db);
  await sql`create table leases (
    name text primary key check (length(name) between 1 and 100),
    holder text not null check (length(holder) between 1 and 200),
    epoch bigint not null check (epoch > 0),
    acquired_at timestamptz not null,
    renewed_at timestamptz not null,
    expires_at timestamptz not null,
    check (expires_at >= renewed_at)
  )`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table leases`.execute(db);
  await sql`drop table replicas`.execute(db);
}
