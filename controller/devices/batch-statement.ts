import { CompiledQuery } from 'kysely';
import type { NewEvent } from '../store/schema.js';
import type { DevicePatch } from './device-patch.js';

/** The SQL type of every column a device patch may set. */
const DEVICE_COLUMN_TYPES = {
  endpoint: 'text',
  registration_id: 'text',
  registration_state: 'text',
  address: 'text',
  port: 'int4',
  lifetime_s: 'int4',
  binding: 'text',
  queue_mode: 'bool',
  security: 'text',
  psk_identity: 'text',
  owner_replica: 'text',
  lwm2m_version: 'text',
  sms_number: 'text',
  object_links: 'text',
  registered_at: 'timestamptz',
  last_seen_at: 'timestamptz',
  expires_at: 'timestamptz',
  manufacturer: 'text',
  model: 'text',
  serial_number: 'text',
  firmware_version: 'text',
  hardware_version: 'text',
  device_type: 'text',
  info_read_at: 'timestamptz',
  fw_protocol_support: 'smallint[]',
  fw_delivery_method: 'int2',
  fw_state: 'int2',
  fw_result: 'int2',
  fw_state_raw: 'text',
  fw_result_raw: 'text',
  fw_reported_at: 'timestamptz',
  error_code: 'int4',
  error_code_read_at: 'timestamptz',
  error_code_followed_in: 'text',
  updated_at: 'timestamptz',
} as const satisfies Record<keyof DevicePatch, string>;

type PatchColumn = keyof typeof DEVICE_COLUMN_TYPES;

/**
 * Every column, sorted, and each one's bit: a patch's set of columns is one small integer. More
 * columns than a 32-bit bitwise operation holds, so the mask is built and read with arithmetic
 * (exact up to 2^53): a patch names each column once, so adding its bit is setting it.
 */
const ALL_COLUMNS = (Object.keys(DEVICE_COLUMN_TYPES) as PatchColumn[]).sort();
if (ALL_COLUMNS.length > 52) throw new Error('device columns no longer fit a 53-bit mask');
const COLUMN_BIT: Readonly<Record<string, number>> = Object.assign(
  Object.create(null) as Record<string, number>,
  Object.fromEntries(ALL_COLUMNS.map((c, i) => [c, 2 ** i])),
);
const columnsByMask = new Map<number, PatchColumn[]>();

/** The columns a patch sets, as a mask: patches with the same columns share one upsert. */
function maskOf(patch: DevicePatch): number {
  let mask = 0;
  for (const name in patch) {
    if ((patch as Record<string, unknown>)[name] === undefined) continue;
    const bit = COLUMN_BIT[name];
    if (bit === undefined) throw new Error(`not a device column: ${name}`);
    mask += bit;
  }
  return mask;
}

/** The columns of a mask, sorted (built once per mask). */
function columnsOf(mask: number): PatchColumn[] {
  let columns = columnsByMask.get(mask);
  if (columns === undefined) {
    columns = ALL_COLUMNS.filter((c) => Math.floor(mask / COLUMN_BIT[c]!) % 2 === 1);
    columnsByMask.set(mask, columns);
  }
  return columns;
}

const TIMESTAMPS = new Set<string>([
  ...Object.entries(DEVICE_COLUMN_TYPES)
    .filter(([, type]) => type === 'timestamptz')
    .map(([column]) => column),
  'at',
]);

/** JSON text holding an escaped NUL or surrogate (the latter is escaped only when lone). */
const UNSTORABLE = /\\u0000|\\ud[89a-f]/i;
const NUL_OR_LONE_SURROGATE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The rows of one parameter as JSON text, which `json_to_recordset` turns back into typed rows: one
 * native JSON.stringify costs far less than either driver's conversion value by value. Postgres
 * text and jsonb refuse NUL and lone surrogates (a device's strings may carry them): those rare
 * values become U+FFFD rather than fail the whole batch again and again.
 */
function jsonRows(rows: readonly object[], columns: readonly string[]): string {
  const plain = rows.map((row) => withEpochDates(row, columns));
  const json = JSON.stringify(plain);
  return UNSTORABLE.test(json) ? JSON.stringify(plain, storable) : json;
}

/**
 * The row's columns, dates as epoch milliseconds (the SQL turns them back with `epoch`): formatting
 * dates as text, as JSON.stringify does through Date#toJSON, costs more than the rest of the row.
 */
function withEpochDates(row: object, columns: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column of columns) {
    const value = (row as Record<string, unknown>)[column];
    out[column] =
      value instanceof Date
        ? value.getTime()
        : TIMESTAMPS.has(column) && typeof value === 'string'
          ? Date.parse(value)
          : value;
  }
  return out;
}

/** A recordset column: timestamps travel as epoch milliseconds. */
function recordsetType(type: string): string {
  return type === 'timestamptz' ? 'float8' : type;
}

/** Selects a recordset column as its table type. */
function fromRecordset(alias: string, column: string, type: string): string {
  return type === 'timestamptz' ? epoch(`${alias}.${column}`) : `${alias}.${column}`;
}

/** Epoch milliseconds to timestamptz, exact to the millisecond. */
function epoch(ms: string): string {
  return `to_timestamp(${ms} / 1000.0)`;
}

function storable(key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  // An event's details are JSON text already: their escaped NUL or lone surrogate would fail as jsonb.
  if (key === 'details' && UNSTORABLE.test(value)) {
    try {
      return JSON.stringify(JSON.parse(value), storable);
    } catch {
      return value;
    }
  }
  return value.replace(NUL_OR_LONE_SURROGATE, '\uFFFD');
}

function recordsetColumns(columns: readonly PatchColumn[]): string {
  return columns.map((c) => `${c} ${recordsetType(DEVICE_COLUMN_TYPES[c])}`).join(', ');
}

/** One upsert of all rows with these columns, from the JSON rows in parameter `param`. */
function upsertText(columns: readonly PatchColumn[], param: number): string {
  const updates = columns.filter((c) => c !== 'endpoint').map((c) => `${c} = excluded.${c}`);
  return (
    `insert into devices (${columns.join(', ')}) ` +
    `select ${columns.map((c) => fromRecordset('t', c, DEVICE_COLUMN_TYPES[c])).join(', ')} ` +
    `from json_to_recordset($${param}::json) as t(${recordsetColumns(columns)}) ` +
    `on conflict (endpoint) do update set ${updates.join(', ')}`
  );
}

const EVENT_FIELDS = ['at', 'rollout', 'endpoint', 'update_id', 'type', 'message', 'details', 'git_revision'];

function eventsSelect(param: number): string {
  return (
    `select coalesce(${epoch('e.at')}, now()), e.rollout, e.endpoint, e.update_id, e.type, e.message, ` +
    `coalesce(e.details::jsonb, '{}'::jsonb), e.git_revision from json_to_recordset($${param}::json) as ` +
    `e(at float8, rollout text, endpoint text, update_id int8, type text, message text, details text, git_revision text)`
  );
}

/**
 * FirmwareVersionChanged for each checked endpoint (JSON rows in $1) whose stored version, read by
 * `stored_versions` before this statement's upserts, differs; `atParam` holds the time.
 */
function versionEventsSelect(atParam: number): string {
  return (
    `select $${atParam}::timestamptz, null::text, v.endpoint, null::int8, 'FirmwareVersionChanged', ` +
    `'firmware version changed from ' || o.firmware_version || ' to ' || v.version, ` +
    `jsonb_build_object('from', o.firmware_version, 'to', v.version), null::text ` +
    `from json_to_recordset($1::json) as v(endpoint text, version text) ` +
    `join stored_versions o on o.endpoint = v.endpoint ` +
    `where o.firmware_version is not null and o.firmware_version <> v.version`
  );
}

interface StatementShape {
  readonly upserts: readonly (readonly PatchColumn[])[];
  readonly events: boolean;
  readonly versionChecks: boolean;
}

const texts = new Map<string, string>();
const MAX_CACHED_TEXTS = 256;

/**
 * The statement text for one shape, built once. Parameters, in order: the version checks (if any),
 * each upsert's rows, the events, then the time of the version events.
 */
function statementText(shape: StatementShape): string {
  const key = `${shape.upserts.map((s) => s.join(',')).join('|')}${shape.events ? '+events' : ''}${shape.versionChecks ? '+versions' : ''}`;
  const cached = texts.get(key);
  if (cached !== undefined) return cached;
  const parts: string[] = [];
  let param = 1;
  if (shape.versionChecks) {
    // Every part of one statement sees the same snapshot: these are the versions before the upserts.
    parts.push(
      'select d.endpoint, d.firmware_version from devices d ' +
        'join json_to_recordset($1::json) as v(endpoint text, version text) on d.endpoint = v.endpoint',
    );
    param++;
  }
  for (const columns of shape.upserts) parts.push(upsertText(columns, param++));
  const inserts: string[] = [];
  if (shape.events) inserts.push(eventsSelect(param++));
  if (shape.versionChecks) inserts.push(versionEventsSelect(param++));
  if (inserts.length > 0)
    parts.push(`insert into events (${EVENT_FIELDS.join(', ')}) ${inserts.join(' union all ')}`);
  // Data-modifying WITH parts all run to completion, here on distinct rows (one patch per endpoint).
  const main = parts.pop() ?? '';
  const names = parts.map((_, i) => (i === 0 && shape.versionChecks ? 'stored_versions' : `w${i}`));
  const text =
    parts.length === 0 ? main : `with ${parts.map((p, i) => `${names[i]} as (${p})`).join(', ')} ${main}`;
  if (texts.size >= MAX_CACHED_TEXTS) texts.clear();
  texts.set(key, text);
  return text;
}

/** A patch whose firmware_version is to be compared with the stored one (FirmwareVersionChanged). */
export interface VersionCheck {
  readonly endpoint: string;
  readonly version: string;
}

const VERSION_CHECK_FIELDS = ['endpoint', 'version'];

/**
 * One statement that upserts every patch (at most one per endpoint), appends every event and a
 * FirmwareVersionChanged event for each version check that moves the stored version; undefined
 * when there is nothing to write. A single statement is atomic on its own. Its text depends only on
 * which columns the patches set (cached), and its parameter count does not grow with the batch.
 */
export function batchWriteStatement(
  patches: readonly DevicePatch[],
  events: readonly NewEvent[],
  versionChecks: readonly VersionCheck[] = [],
  now: Date = new Date(),
): CompiledQuery | undefined {
  const byShape = new Map<number, { columns: PatchColumn[]; rows: DevicePatch[] }>();
  for (const patch of patches) {
    const mask = maskOf(patch);
    const group = byShape.get(mask);
    if (group === undefined) byShape.set(mask, { columns: columnsOf(mask), rows: [patch] });
    else group.rows.push(patch);
  }
  if (byShape.size === 0 && events.length === 0) return undefined;
  const groups = [...byShape.values()];
  const checks = groups.length > 0 && versionChecks.length > 0;
  const parameters: unknown[] = [];
  if (checks) parameters.push(jsonRows(versionChecks, VERSION_CHECK_FIELDS));
  for (const { columns, rows } of groups) parameters.push(jsonRows(rows, columns));
  if (events.length > 0) parameters.push(jsonRows(events, EVENT_FIELDS));
  if (checks) parameters.push(now.toISOString());
  const text = statementText({
    upserts: groups.map((g) => g.columns),
    events: events.length > 0,
    versionChecks: checks,
  });
  return CompiledQuery.raw(text, parameters);
}
