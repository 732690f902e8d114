import { type Kysely, sql } from 'kysely';

// Migrations take Kysely<any>: they describe the schema as it was then, not as the code types it now.
// biome-ignore lint/suspicious/noExplicitAny: see above
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('devices')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('endpoint', 'text', (c) => c.notNull().unique())
    .addColumn('registration_id', 'text')
    .addColumn('registration_state', 'text', (c) =>
      c.check(sql`registration_state in ('registered', 'expired', 'deregistered')`),
    )
    .addColumn('address', 'text')
    .addColumn('port', 'integer')
    .addColumn('lifetime_s', 'integer')
    .addColumn('binding', 'text')
    .addColumn('queue_mode', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('lwm2m_version', 'text')
    .addColumn('sms_number', 'text')
    .addColumn('object_links', 'text')
    .addColumn('registered_at', 'timestamptz')
    .addColumn('last_seen_at', 'timestamptz')
    .addColumn('expires_at', 'timestamptz')
    .addColumn('manufacturer', 'text')
    .addColumn('model', 'text')
    .addColumn('serial_number', 'text')
    .addColumn('firmware_version', 'text')
    .addColumn('hardware_version', 'text')
    .addColumn('device_type', 'text')
    .addColumn('info_read_at', 'timestamptz')
    .addColumn('fw_protocol_support', sql`smallint[]`)
    .addColumn('fw_delivery_method', 'smallint')
    .addColumn('fw_state', 'smallint')
    .addColumn('fw_result', 'smallint')
    .addColumn('fw_reported_at', 'timestamptz')
    .addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('devices_registration_id')
    .on('devices')
    .column('registration_id')
    .unique()
    .where(sql.ref('registration_id'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('devices_expires_at')
    .on('devices')
    .column('expires_at')
    .where(sql.ref('registration_state'), '=', 'registered')
    .execute();

  await db.schema
    .createTable('firmware_updates')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('device_id', 'integer', (c) => c.notNull().references('devices.id'))
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('rollout', 'text', (c) => c.notNull())
    .addColumn('firmware', 'text', (c) => c.notNull())
    .addColumn('target_version', 'text', (c) => c.notNull())
    .addColumn('from_version', 'text')
    .addColumn('package_uri', 'text')
    .addColumn('attempt', 'integer', (c) => c.notNull().check(sql`attempt >= 1`))
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('state', 'smallint', (c) => c.notNull().defaultTo(0).check(sql`state between 0 and 3`))
    .addColumn('result', 'smallint', (c) => c.notNull().defaultTo(0).check(sql`result between 0 and 11`))
    .addColumn('failure_reason', 'text')
    // Set when the update finished as failed: whether another attempt may follow (timeouts,
    // lost connections) or not (no storage, unsupported package, ...).
    .addColumn('retryable', 'boolean')
    .addColumn('git_revision', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('phase_changed_at', 'timestamptz', (c) => c.notNull())
    .addColumn('deadline_at', 'timestamptz')
    .addColumn('uri_written_at', 'timestamptz')
    .addColumn('downloaded_at', 'timestamptz')
    .addColumn('executed_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    // A finished update is exactly one that has its finish time.
    .addCheckConstraint(
      'firmware_updates_finished_consistent',
      sql`(finished_at is null) = (phase not in ('succeeded', 'failed', 'cancelled'))`,
    )
    .execute();
  // The invariant "at most one active update per device" lives here, not in code: every
  // replica and every code path is held to it by the database.
  await db.schema
    .createIndex('firmware_updates_one_active_per_device')
    .on('firmware_updates')
    .column('device_id')
    .unique()
    .where(sql.ref('finished_at'), 'is', null)
    .execute();
  await db.schema
    .createIndex('firmware_updates_rollout')
    .on('firmware_updates')
    .columns(['rollout', 'target_version', 'phase'])
    .execute();
  await db.schema
    .createIndex('firmware_updates_rollout_created')
    .on('firmware_updates')
    .columns(['rollout', 'created_at'])
    .execute();
  await db.schema
    .createIndex('firmware_updates_device')
    .on('firmware_updates')
    .columns(['device_id', 'id'])
    .execute();
  await db.schema
    .createIndex('firmware_updates_deadline')
    .on('firmware_updates')
    .column('deadline_at')
    .where(sql.ref('finished_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('rollouts')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('spec', 'jsonb', (c) => c.notNull())
    .addColumn('generation', 'text', (c) => c.notNull())
    .addColumn('observed_generation', 'text')
    .addColumn('git_revision', 'text')
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('current_step', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('step_started_at', 'timestamptz')
    .addColumn('step_completed_at', 'timestamptz')
    .addColumn('paused_reason', 'text')
    .addColumn('tripped_generation', 'text')
    .addColumn('counts', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('conditions', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('removed_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('events')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('rollout', 'text')
    .addColumn('endpoint', 'text')
    .addColumn('update_id', 'bigint')
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('git_revision', 'text')
    .execute();
  await db.schema.createIndex('events_endpoint').on('events').columns(['endpoint', 'id']).execute();
  await db.schema.createIndex('events_rollout').on('events').columns(['rollout', 'id']).execute();
  // The audit log is append-only: updates and deletes are refused by the database itself.
  await sql`create function events_append_only() returns trigger language plpgsql as $$
    begin raise exception 'events is append-only'; end $$`.execute(db);
  await sql`create trigger events_no_update before update or delete on events
    for each row execute function events_append_only()`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('events').execute();
  await sql`drop function if exists events_append_only()`.execute(db);
  await db.schema.dropTable('rollouts').execute();
  await db.schema.dropTable('firmware_updates').execute();
  await db.schema.dropTable('devices').execute();
}
