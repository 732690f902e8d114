import { type Kysely, sql } from 'kysely';
import { loadCommits } from '../../store/commits.js';
import type { Database, FirmwareUpdateRow } from '../../store/schema.js';
import { ACTIVE_PHASES } from '../../store/update-phase.js';
import { toDeviceView, toEventView, toUpdateView, updateRevisions } from './to-view.js';
import type { DeviceDetailView, DeviceStateFilter, DeviceView } from './views.js';

export const DEVICE_STATE_FILTERS = [...ACTIVE_PHASES, 'up-to-date', 'failed'] as const;

export function isDeviceStateFilter(value: string): value is DeviceStateFilter {
  return (DEVICE_STATE_FILTERS as readonly string[]).includes(value);
}

export interface DeviceQuery {
  /** Devices with an attempt in this rollout; their `lastUpdate` is the newest one of it. */
  readonly rollout?: string;
  /**
   * An active phase (of the device's active update), or the outcome of its newest attempt:
   * `failed`, or `up-to-date` (it succeeded and the device reports its target version).
   */
  readonly state?: DeviceStateFilter;
  /** Substring of the endpoint name. */
  readonly search?: string;
  /** Keyset pagination: endpoints strictly after this one. */
  readonly after?: string;
  readonly limit: number;
}

export interface DevicePage {
  readonly devices: DeviceView[];
  /** Pass as `after` for the next page; null on the last one. */
  readonly nextAfter: string | null;
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export async function listDevices(db: Kysely<Database>, query: DeviceQuery): Promise<DevicePage> {
  const rolloutCondition = query.rollout === undefined ? sql`` : sql`and f.rollout = ${query.rollout}`;
  let select = db
    .selectFrom('devices as d')
    .leftJoin('firmware_updates as a', (join) =>
      join.onRef('a.device_id', '=', 'd.id').on('a.finished_at', 'is', null),
    )
    .leftJoin('firmware_updates as l', (join) =>
      join.on(
        sql<boolean>`l.id = (select max(f.id) from firmware_updates f where f.device_id = d.id ${rolloutCondition})`,
      ),
    )
    .selectAll('d')
    .select(['a.id as active_id', 'l.id as last_id']);
  if (query.after !== undefined) select = select.where('d.endpoint', '>', query.after);
  if (query.search) select = select.where(sql<boolean>`d.endpoint like ${`%${escapeLike(query.search)}%`}`);
  if (query.rollout !== undefined) select = select.where('l.id', 'is not', null);
  const state = query.state;
  if (state === 'failed') {
    select = select.where('a.id', 'is', null).where('l.phase', '=', 'failed');
  } else if (state === 'up-to-date') {
    select = select
      .where('a.id', 'is', null)
      .where('l.phase', '=', 'succeeded')
      .whereRef('d.firmware_version', '=', 'l.target_version');
  } else if (state !== undefined) {
    select = select.where('a.phase', '=', state);
    if (query.rollout !== undefined) select = select.where('a.rollout', '=', query.rollout);
  }
  const rows = await select
    .orderBy('d.endpoint')
    .limit(query.limit + 1)
    .execute();
  const page = rows.slice(0, query.limit);
  const ids = page.flatMap((r) => [r.active_id, r.last_id]).filter((id): id is number => id !== null);
  const updates = await updatesById(db, ids);
  const commits = await loadCommits(db, [...updates.values()].flatMap(updateRevisions));
  return {
    devices: page.map((row) =>
      toDeviceView(
        row,
        row.active_id === null ? undefined : updates.get(Number(row.active_id)),
        row.last_id === null ? undefined : updates.get(Number(row.last_id)),
        commits,
      ),
    ),
    nextAfter: rows.length > query.limit ? (page.at(-1)?.endpoint ?? null) : null,
  };
}

async function updatesById(db: Kysely<Database>, ids: number[]): Promise<Map<number, FirmwareUpdateRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('firmware_updates').selectAll().where('id', 'in', ids).execute();
  return new Map(rows.map((row) => [Number(row.id), row]));
}

export const DEVICE_EVENTS = 50;

export async function getDevice(
  db: Kysely<Database>,
  endpoint: string,
): Promise<DeviceDetailView | undefined> {
  const device = await db
    .selectFrom('devices')
    .selectAll()
    .where('endpoint', '=', endpoint)
    .executeTakeFirst();
  if (!device) return undefined;
  const updates = await db
    .selectFrom('firmware_updates')
    .selectAll()
    .where('device_id', '=', device.id)
    .orderBy('id')
    .execute();
  const events = await db
    .selectFrom('events')
    .selectAll()
    .where('endpoint', '=', endpoint)
    .orderBy('id', 'desc')
    .limit(DEVICE_EVENTS)
    .execute();
  const active = updates.find((u) => u.finished_at === null);
  const commits = await loadCommits(db, [
    ...updates.flatMap(updateRevisions),
    ...events.map((e) => e.git_revision),
  ]);
  return {
    ...toDeviceView(device, active, updates.at(-1), commits),
    updates: updates.map((update) => toUpdateView(update, commits)),
    events: events.reverse().map((event) => toEventView(event, commits)),
  };
}
