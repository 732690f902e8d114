import { type Kysely, sql } from 'kysely';

/**
 * Post-update health checks (issue 21): the update phase `verifying` between the device reporting
 * the target in 3/0/3 and `succeeded`, and what a bake needs, restart-safe in the database:
 *
 * - `firmware_updates.bake_until`: the bake deadline; `bake_registrations`: the device's
 *   registration count when the bake began (a Register since is a reboot);
 * - `devices.registrations`: how many Registers (new registration ids) the device has made, kept by
 *   a trigger that fires only on a changed registration id, so the Updates and notifications that
 *   make up most device writes do not pay for it; exact, however many Registers a pass sees;
 * - `devices.error_code` (3/0/11, the first non-zero instance, 0 when all are 0; null when the
 *   device has not reported it) and `error_code_read_at`.
 *
 * The phase lists are spelled out as in 0010 (held to the code's by test/store/phase-checks-migration.test.ts).
 */
const UPDATE_PHASES = [
  'pending',
  'downloading',
  'downloaded',
  'updating',
  'verifying',
  'cancelling',
  'succeeded',
  'failed',
  'cancelled',
];
const BEFORE = UPDATE_PHASES.filter((p) => p !== 'verifying');

const list = (phases: readonly string[]) => sql.join(phases.map((p) => sql.lit(p)));

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table firmware_updates drop constraint firmware_updates_phase_known`.execute(db);
  await sql`alter table firmware_updates
    add constraint firmware_updates_phase_known check (phase in (${list(UPDATE_PHASES)})),
    add column bake_until timestamptz,
    add column bake_registrations integer,
    add constraint firmware_updates_bake_while_verifying
      check ((phase = 'verifying') = (bake_until is not null and bake_registrations is not null))`.execute(
    db,
  );
  await sql`alter table devices
    add column registrations integer not null default 0,
    add column error_code integer
      constraint devices_error_code_range check (error_code between 0 and 32),
    add column error_code_read_at timestamptz`.execute(db);
  await sql`create function devices_count_registration() returns trigger language plpgsql as $$
    begin
      new.registrations := old.registrations + 1;
      return new;
    end $$`.execute(db);
  await sql`create trigger devices_count_registrations before update of registration_id on devices
    for each row
    when (new.registration_id is distinct from old.registration_id and new.registration_id is not null)
    execute function devices_count_registration()`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger devices_count_registrations on devices`.execute(db);
  await sql`drop function devices_count_registration()`.execute(db);
  await sql`alter table devices drop column registrations, drop column error_code, drop column error_code_read_at`.execute(
    db,
  );
  await sql`alter table firmware_updates drop constraint firmware_updates_bake_while_verifying,
    drop column bake_until, drop column bake_registrations,
    drop constraint firmware_updates_phase_known`.execute(db);
  await sql`alter table firmware_updates
    add constraint firmware_updates_phase_known check (phase in (${list(BEFORE)}))`.execute(db);
}
