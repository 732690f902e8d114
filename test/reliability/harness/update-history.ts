import type { Kysely } from 'kysely';
import type { Database } from '../../../controller/store/index.js';
import type { ProcessDatabase } from './databases.js';

/** Update event types, and which may follow which within one update attempt. */
const NEXT: Readonly<Record<string, readonly string[]>> = {
  // A device found busy before this update (or refusing the URI while not Idle) is reset first.
  UpdateStarted: ['PackageUriWritten', 'UpdateFailed', 'UpdateCancelled', 'DeviceReset', 'PackageUriRefused'],
  PackageUriRefused: ['DeviceReset', 'UpdateFailed', 'UpdateCancelled'],
  DeviceReset: ['PackageUriWritten', 'UpdateFailed', 'UpdateCancelled'],
  PackageUriWritten: ['DownloadCompleted', 'UpdateFailed', 'UpdateCancelling', 'UpdateCancelled'],
  DownloadCompleted: ['UpdateExecuted', 'UpdateFailed', 'UpdateCancelling', 'UpdateCancelled'],
  // Execute goes out again only after the row was sent back to Downloaded: it never reached the
  // device (UpdateRearmed), or could not be sent (UpdateExecuteNotSent).
  // Or it was refused with 4.05 by a device downloading again (UpdateExecuteRefused).
  UpdateExecuted: [
    'UpdateSucceeded',
    'UpdateFailed',
    'UpdateRearmed',
    'UpdateExecuteNotSent',
    'UpdateExecuteRefused',
  ],
  UpdateExecuteRefused: ['DownloadCompleted', 'UpdateFailed', 'UpdateCancelling', 'UpdateCancelled'],
  UpdateRearmed: ['UpdateExecuted', 'UpdateFailed', 'UpdateCancelling', 'UpdateCancelled'],
  UpdateExecuteNotSent: ['UpdateExecuted', 'UpdateFailed', 'UpdateCancelling', 'UpdateCancelled'],
  UpdateCancelling: ['UpdateCancelled'],
  UpdateSucceeded: [],
  UpdateFailed: [],
  UpdateCancelled: [],
};

/**
 * Not a move of the update: the controller records here that acting on it failed (a step the
 * database refused, a device operation that threw) and tries again later. It belongs to the update
 * (its `update_id` is set, so the update's history shows it), may come at any point after
 * UpdateStarted, even after the terminal event (a step that failed while another pass finished
 * the update), and is left out of the order of moves.
 */
const NOT_A_MOVE: ReadonlySet<string> = new Set(['ReconcileFailed']);

const TERMINAL_EVENT: Readonly<Record<string, string>> = {
  succeeded: 'UpdateSucceeded',
  failed: 'UpdateFailed',
  cancelled: 'UpdateCancelled',
};

export interface HistoryExpectation {
  /** Every device that must have ended on `targetVersion` through exactly one successful update. */
  readonly endpoints: readonly string[];
  readonly targetVersion: string;
  readonly rollout: string;
}

export interface UpdateHistory {
  /** Everything that breaks a promise; empty when the history is sound. */
  readonly violations: readonly string[];
  /** Attempts per endpoint (successful or not), for reports. */
  readonly attempts: ReadonlyMap<string, number>;
}

/**
 * Checks the promises the controller makes, from the database alone: every listed device on the
 * target with exactly one successful update for it, nothing left active, a device's attempts never
 * overlapping (one active update at a time, also in the past), and every attempt's events complete
 * and in order (UpdateStarted first, one terminal event last, matching the row's phase).
 */
export async function checkUpdateHistory(
  db: Kysely<Database>,
  expected: HistoryExpectation,
): Promise<UpdateHistory> {
  const violations: string[] = [];
  const devices = await db.selectFrom('devices').select(['endpoint', 'firmware_version']).execute();
  const versionOf = new Map(devices.map((d) => [d.endpoint, d.firmware_version]));
  const updates = await db.selectFrom('firmware_updates').selectAll().orderBy('id').execute();
  const events = await db
    .selectFrom('events')
    .select(['id', 'update_id', 'type', 'endpoint'])
    .where('update_id', 'is not', null)
    .orderBy('id')
    .execute();
  const eventsOf = new Map<number, { id: number; type: string }[]>();
  for (const e of events) {
    const list = eventsOf.get(Number(e.update_id)) ?? [];
    list.push({ id: Number(e.id), type: e.type });
    eventsOf.set(Number(e.update_id), list);
  }

  for (const u of updates) {
    if (u.finished_at === null) violations.push(`${u.endpoint}: update ${u.id} is still active (${u.phase})`);
    const all = eventsOf.get(Number(u.id)) ?? [];
    if (all[0]?.type !== 'UpdateStarted')
      violations.push(
        `${u.endpoint}: update ${u.id} events ${all.map((e) => e.type)} lack UpdateStarted first`,
      );
    const types = all.filter((e) => !NOT_A_MOVE.has(e.type)).map((e) => e.type);
    for (let i = 1; i < types.length; i++) {
      const allowed = NEXT[types[i - 1]!];
      if (allowed === undefined || !allowed.includes(types[i]!)) {
        violations.push(`${u.endpoint}: update ${u.id} events out of order: ${types.join(' -> ')}`);
        break;
      }
    }
    const terminal = TERMINAL_EVENT[u.phase];
    if (terminal !== undefined && types.at(-1) !== terminal)
      violations.push(`${u.endpoint}: update ${u.id} is ${u.phase} but its last event is ${types.at(-1)}`);
  }

  const byDevice = new Map<string, typeof updates>();
  for (const u of updates) {
    const list = byDevice.get(u.endpoint) ?? [];
    list.push(u);
    byDevice.set(u.endpoint, list);
  }
  for (const [endpoint, list] of byDevice) {
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1]!;
      const next = list[i]!;
      if (previous.finished_at === null || next.created_at < previous.finished_at) {
        violations.push(`${endpoint}: updates ${previous.id} and ${next.id} were active at the same time`);
      }
      const moves = (id: number) => (eventsOf.get(id) ?? []).filter((e) => !NOT_A_MOVE.has(e.type));
      const lastOfPrevious = moves(Number(previous.id)).at(-1)?.id ?? 0;
      const firstOfNext = moves(Number(next.id))[0]?.id ?? Number.POSITIVE_INFINITY;
      if (firstOfNext < lastOfPrevious)
        violations.push(`${endpoint}: events of updates ${previous.id} and ${next.id} interleave`);
    }
  }

  const attempts = new Map<string, number>();
  for (const endpoint of expected.endpoints) {
    const list = (byDevice.get(endpoint) ?? []).filter(
      (u) => u.rollout === expected.rollout && u.target_version === expected.targetVersion,
    );
    attempts.set(endpoint, list.length);
    const succeeded = list.filter((u) => u.phase === 'succeeded').length;
    if (succeeded !== 1) {
      const tried = list.map(
        (u) => `#${u.attempt} ${u.phase}${u.failure_reason ? ` (${u.failure_reason})` : ''}`,
      );
      violations.push(
        `${endpoint}: ${succeeded} successful updates to ${expected.targetVersion} (want 1); attempts: ${tried.join(', ') || 'none'}`,
      );
    }
    const version = versionOf.get(endpoint);
    if (version !== expected.targetVersion)
      violations.push(`${endpoint}: runs ${version ?? 'unknown'} (want ${expected.targetVersion})`);
  }
  return { violations, attempts };
}

/** `checkUpdateHistory` on a controller process's database, opened for the check (PGlite: no controller may run). */
export async function checkProcessDatabaseHistory(
  db: ProcessDatabase,
  expected: HistoryExpectation,
): Promise<UpdateHistory> {
  const store = await db.open();
  try {
    return await checkUpdateHistory(store.db, expected);
  } finally {
    await store.close();
  }
}

/** Devices with more than one active update right now: must always be empty. */
export const DOUBLE_ACTIVE_SQL =
  'select device_id from firmware_updates where finished_at is null group by device_id having count(*) > 1';
