import { type Kysely, sql } from 'kysely';

/**
 * Replicas wake each other (issue 20). Admitting updates notifies the replicas that own their
 * devices; finishing updates notifies the planner, which may admit the next. One NOTIFY per
 * statement (statement-level triggers over the transition tables), delivered at commit, on the
 * channel `otactl_work_<schema>`. The payload `kind|sender|owners`: the sender is the writing
 * connection's application_name (a replica ignores its own), owners the distinct owner_replica of
 * the admitted devices ('' for none). Listening is optional: every replica also polls.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create function otactl_work_admitted() returns trigger language plpgsql as $$
    declare owners text;
    begin
      select string_agg(distinct coalesce(d.owner_replica, ''), ',') into owners
        from admitted a join devices d on d.endpoint = a.endpoint;
      if owners is not null then
        perform pg_notify('otactl_work_' || current_schema(),
          'admitted|' || current_setting('application_name') || '|' || owners);
      end if;
      return null;
    end $$`.execute(db);
  await sql`create function otactl_work_finished() returns trigger language plpgsql as $$
    begin
      if exists (select 1 from after_rows n join before_rows o on o.id = n.id
                  where n.finished_at is not null and o.finished_at is null) then
        perform pg_notify('otactl_work_' || current_schema(),
          'finished|' || current_setting('application_name') || '|');
      end if;
      return null;
    end $$`.execute(db);
  await sql`create trigger firmware_updates_admitted after insert on firmware_updates
    referencing new table as admitted for each statement execute function otactl_work_admitted()`.execute(db);
  await sql`create trigger firmware_updates_finished after update on firmware_updates
    referencing old table as before_rows new table as after_rows
    for each statement execute function otactl_work_finished()`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger firmware_updates_finished on firmware_updates`.execute(db);
  await sql`drop trigger firmware_updates_admitted on firmware_updates`.execute(db);
  await sql`drop function otactl_work_finished()`.execute(db);
  await sql`drop function otactl_work_admitted()`.execute(db);
}
