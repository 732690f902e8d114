import { type Kysely, sql } from 'kysely';
import {
  type ActivePhase,
  checkMove,
  type Database,
  type FirmwareUpdateRow,
  type UpdatePhase,
} from '../../store/index.js';

export interface UpdateEvent {
  readonly type: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** An update to start: the new row's columns (phase `pending`; created_at defaults to now). */
export interface NewUpdate {
  readonly device_id: number;
  readonly endpoint: string;
  readonly rollout: string;
  readonly firmware: string;
  readonly target_version: string;
  readonly from_version?: string | null;
  readonly attempt: number;
  readonly git_revision?: string | null;
  readonly approved_revision?: string | null;
  readonly created_at?: Date;
  readonly phase_changed_at: Date;
  readonly deadline_at?: Date | null;
}

/** A rollout's limits, enforced by the statement that admits its updates. */
export interface AdmissionLimits {
  readonly rollout: string;
  readonly maxInFlight: number;
  readonly maxPerMinute: number;
}

/**
 * Inserts new active updates and their events in one statement. With `limits`, the statement
 * admits, in the order given, only as many as the rollout's active updates and its admissions of
 * the last minute leave room for, counted in the same statement by the database's clock: the
 * limits are global, whoever plans and whatever its clock says. A device that already has an
 * active update (another pass or replica won the race) is skipped by the one-active index, not
 * reported as an error; only the rows inserted are returned. The rows travel as one JSON
 * parameter: a multi-row VALUES would need 13 parameters a row, and PGlite's protocol parser
 * fails beyond 32,767 parameters (about 2,500 rows).
 */
export async function beginUpdates(
  db: Kysely<Database>,
  values: readonly NewUpdate[],
  eventFor: (update: NewUpdate) => UpdateEvent,
  limits?: AdmissionLimits,
): Promise<FirmwareUpdateRow[]> {
  if (values.length === 0) return [];
  // One row per device: a second would conflict with the first and still get an event.
  const unique = [...new Map(values.map((v) => [v.device_id, v])).values()];
  const records = unique.map((v, ordinal) => {
    const event = eventFor(v);
    return {
      ...v,
      ordinal,
      event_type: event.type,
      event_message: event.message,
      event_details: event.details ?? {},
    };
  });
  const result = await sql<FirmwareUpdateRow>`
    with input as materialized (
      select * from json_to_recordset(${JSON.stringify(records)}::json) as i(
        device_id int, endpoint text, rollout text, firmware text, target_version text,
        from_version text, attempt int, git_revision text, approved_revision text, created_at timestamptz,
        phase_changed_at timestamptz, deadline_at timestamptz,
        event_type text, event_message text, event_details json, ordinal int)
    ),
    admitted as (${
      limits === undefined
        ? sql`select * from input`
        : sql`select * from input order by ordinal limit greatest(0, least(
            ${limits.maxInFlight} - (select count(*) from firmware_updates
              where rollout = ${limits.rollout} and finished_at is null),
            ${limits.maxPerMinute} - (select count(*) from firmware_updates
              where rollout = ${limits.rollout} and admitted_at > now() - interval '1 minute')))`
    }),
    started as (
      insert into firmware_updates (device_id, endpoint, rollout, firmware, target_version, from_version,
        attempt, git_revision, approved_revision, created_at, phase_changed_at, deadline_at, phase, finished_at)
      select device_id, endpoint, rollout, firmware, target_version, from_version,
        attempt, git_revision, approved_revision, coalesce(created_at, now()), phase_changed_at, deadline_at, 'pending', null
      from admitted
      on conflict (device_id) where finished_at is null do nothing
      returning *
    ),
    recorded as (
      insert into events (rollout, endpoint, update_id, type, message, details, git_revision)
      select s.rollout, s.endpoint, s.id, i.event_type, i.event_message, i.event_details::jsonb, s.git_revision
      from started s join input i on i.device_id = s.device_id
      order by s.id
    )
    select * from started order by id`.execute(db);
  return result.rows;
}

/** Columns a transition may change besides `phase` and `phase_changed_at` (which it always sets). */
export interface UpdateChanges {
  readonly state?: number;
  readonly result?: number;
  readonly package_uri?: string | null;
  readonly failure_reason?: string | null;
  readonly retryable?: boolean | null;
  readonly deadline_at?: Date | null;
  readonly uri_written_at?: Date | null;
  readonly downloaded_at?: Date | null;
  readonly executed_at?: Date | null;
  readonly finished_at?: Date | null;
  readonly refusal_code?: string | null;
  readonly refusal_state?: number | null;
  readonly refusal_result?: number | null;
  readonly refused_at?: Date | null;
  readonly reset_at?: Date | null;
  readonly bake_until?: Date | null;
  readonly bake_registrations?: number | null;
}

/**
 * One phase change of one update with its event; applied only while the row is still in `from`.
 * Each phase of `from` must be able to move to `phase` writing `event.type` (UPDATE_MOVES).
 */
export interface Transition {
  readonly id: number;
  readonly from: readonly ActivePhase[];
  readonly phase: UpdatePhase;
  readonly phaseChangedAt: Date;
  readonly changes: UpdateChanges;
  readonly event: UpdateEvent;
  /**
   * A device request of the same command follows this move (the reset after a refused Package URI
   * was recorded, the empty URI after Cancelling): the update's row in `device_commands` stays.
   * Every other move deletes it, in the statement that moves the update (Execute's claim to
   * `updating` too: that move is what keeps Execute to one, so it stands for the command).
   */
  readonly keepCommand?: boolean;
}

/** The optional columns, each with its bit in a row's `set_mask` (constant SQL for any mix of changes). */
const OPTIONAL_COLUMNS = [
  ['state', 'smallint'],
  ['result', 'smallint'],
  ['package_uri', 'text'],
  ['failure_reason', 'text'],
  ['retryable', 'boolean'],
  ['deadline_at', 'timestamptz'],
  ['uri_written_at', 'timestamptz'],
  ['downloaded_at', 'timestamptz'],
  ['executed_at', 'timestamptz'],
  ['finished_at', 'timestamptz'],
  ['refusal_code', 'text'],
  ['refusal_state', 'smallint'],
  ['refusal_result', 'smallint'],
  ['refused_at', 'timestamptz'],
  ['reset_at', 'timestamptz'],
  ['bake_until', 'timestamptz'],
  ['bake_registrations', 'integer'],
] as const satisfies readonly (readonly [keyof UpdateChanges, string])[];

const RECORD_COLUMNS = sql.raw(
  [
    'id bigint',
    'from_phases text',
    'set_mask int',
    'phase text',
    'phase_changed_at timestamptz',
    'keep_command boolean',
    ...OPTIONAL_COLUMNS.map(([column, type]) => `${column} ${type}`),
    'event_type text',
    'event_message text',
    'event_details json',
  ].join(', '),
);

const SET_OPTIONAL = sql.raw(
  OPTIONAL_COLUMNS.map(
    ([column], bit) =>
      `${column} = case when i.set_mask & ${1 << bit} <> 0 then i.${column} else u.${column} end`,
  ).join(',\n      '),
);

function transitionRecord(t: Transition): Record<string, unknown> {
  const record: Record<string, unknown> = {
    id: t.id,
    from_phases: t.from.join(','),
    phase: t.phase,
    phase_changed_at: t.phaseChangedAt,
    keep_command: t.keepCommand === true,
    event_type: t.event.type,
    event_message: t.event.message,
    event_details: t.event.details ?? {},
  };
  let mask = 0;
  OPTIONAL_COLUMNS.forEach(([column], bit) => {
    const value = t.changes[column];
    if (value === undefined) return;
    mask |= 1 << bit;
    record[column] = value;
  });
  record.set_mask = mask;
  return record;
}

/**
 * Moves updates to their next phases, each with its event, in one statement: a data-modifying CTE
 * updates the rows still in their `from` phases, inserts one event for each row it moved and
 * deletes its device command (unless `keepCommand`), so a move, its event and the end of the claim
 * on the request whose result it records commit together without BEGIN/COMMIT. Returns the ids that moved; an id that
 * did not was moved first by another pass or replica (the claim that makes Execute happen once).
 * Ids must be distinct within one call. A transition the table of moves lacks throws before anything
 * is written.
 */
export async function transitionUpdates(
  db: Kysely<Database>,
  transitions: readonly Transition[],
): Promise<Set<number>> {
  if (transitions.length === 0) return new Set();
  for (const t of transitions) checkMove(t.from, t.phase, t.event.type);
  // The ids again as an array: the planner cannot see into the JSON, and without them it would scan
  // every update ever made instead of looking the rows up by key.
  const ids = `{${transitions.map((t) => t.id).join(',')}}`;
  const result = await sql<{ update_id: string | number }>`
    with input as materialized (
      select * from json_to_recordset(${JSON.stringify(transitions.map(transitionRecord))}::json)
        as i(${RECORD_COLUMNS})
    ),
    moved as (
      update firmware_updates u set
        phase = i.phase,
        phase_changed_at = i.phase_changed_at,
        ${SET_OPTIONAL}
      from input i
      where u.id = any(${ids}::bigint[]) and u.id = i.id and u.phase = any(string_to_array(i.from_phases, ','))
      returning u.id, u.rollout, u.endpoint, u.git_revision
    ),
    released as (
      delete from device_commands k using moved m join input i on i.id = m.id
      where k.update_id = m.id and not i.keep_command
    )
    insert into events (rollout, endpoint, update_id, type, message, details, git_revision)
    select m.rollout, m.endpoint, m.id, i.event_type, i.event_message, i.event_details::jsonb, m.git_revision
    from moved m join input i on i.id = m.id
    returning update_id`.execute(db);
  return new Set(result.rows.map((r) => Number(r.update_id)));
}

/** An event that belongs to a rollout rather than one update. */
export async function appendRolloutEvent(
  db: Kysely<Database>,
  rollout: string | null,
  gitRevision: string | null,
  event: UpdateEvent,
): Promise<void> {
  await db
    .insertInto('events')
    .values({
      rollout,
      endpoint: null,
      update_id: null,
      type: event.type,
      message: event.message,
      details: JSON.stringify(event.details ?? {}),
      git_revision: gitRevision,
    })
    .execute();
}
