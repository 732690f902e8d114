import { type Kysely, sql } from 'kysely';
import { type RolloutPhase, TERMINAL_PHASES, type UpdatePhase } from '../../controller/store/index.js';
import type { Database, FirmwareUpdateRow } from '../../controller/store/schema.js';

/** Rows as the reconciler and the LwM2M server write them, for read-side tests. */

export async function insertDevice(
  db: Kysely<Database>,
  endpoint: string,
  fields: { firmwareVersion?: string; model?: string; registrationState?: 'registered' | 'expired' } = {},
): Promise<number> {
  const row = await db
    .insertInto('devices')
    .values({
      endpoint,
      registration_id: `reg-${endpoint}`,
      registration_state: fields.registrationState ?? 'registered',
      firmware_version: fields.firmwareVersion ?? '1.0.0',
      model: fields.model ?? 'sensor',
      last_seen_at: new Date('2025-03-01T10:00:00Z'),
      registered_at: new Date('2025-03-01T09:00:00Z'),
      updated_at: new Date('2025-03-01T10:00:00Z'),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export interface UpdateFields {
  readonly rollout?: string;
  readonly phase?: UpdatePhase;
  readonly attempt?: number;
  readonly state?: number;
  readonly result?: number;
  readonly failureReason?: string;
  readonly targetVersion?: string;
  readonly gitRevision?: string;
  readonly finishedAt?: Date;
}

export async function insertUpdate(
  db: Kysely<Database>,
  deviceId: number,
  endpoint: string,
  fields: UpdateFields = {},
): Promise<FirmwareUpdateRow> {
  const phase = fields.phase ?? 'downloading';
  const terminal = (TERMINAL_PHASES as readonly string[]).includes(phase);
  return db
    .insertInto('firmware_updates')
    .values({
      device_id: deviceId,
      endpoint,
      rollout: fields.rollout ?? 'canary',
      firmware: 'sensor-1.1.0',
      target_version: fields.targetVersion ?? '1.1.0',
      from_version: '1.0.0',
      package_uri: 'http://127.0.0.1:8080/binaries/sensor-1.1.0.bin',
      attempt: fields.attempt ?? 1,
      phase,
      state: fields.state ?? 0,
      result: fields.result ?? 0,
      failure_reason: fields.failureReason ?? null,
      git_revision: fields.gitRevision ?? 'abc1234def',
      created_at: new Date('2025-03-01T10:01:00Z'),
      phase_changed_at: new Date('2025-03-01T10:02:00Z'),
      finished_at: terminal ? (fields.finishedAt ?? new Date('2025-03-01T10:05:00Z')) : null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export const CANARY_SPEC = {
  group: 'sensors',
  firmware: { name: 'sensor-1.1.0', version: '1.1.0' },
  targetVersion: '1.1.0',
  steps: [
    { percent: 10, pause: { kind: 'duration', ms: 30_000 } },
    { percent: 50, pause: { kind: 'manual' } },
    { percent: 100, pause: { kind: 'none' } },
  ],
  maxInFlight: 20,
};

export async function insertRollout(
  db: Kysely<Database>,
  name: string,
  fields: {
    phase?: RolloutPhase;
    currentStep?: number;
    counts?: Record<string, unknown>;
    gitRevision?: string;
    spec?: unknown;
  } = {},
): Promise<void> {
  await db
    .insertInto('rollouts')
    .values({
      name,
      spec: JSON.stringify(fields.spec ?? CANARY_SPEC),
      generation: 'gen-1',
      observed_generation: 'gen-1',
      git_revision: fields.gitRevision ?? 'abc1234def',
      phase: fields.phase ?? 'Progressing',
      current_step: fields.currentStep ?? 1,
      step_started_at: new Date('2025-03-01T10:00:00Z'),
      counts: JSON.stringify(
        fields.counts ?? {
          selected: 300,
          upToDate: 150,
          pending: 100,
          inFlight: 20,
          downloading: 12,
          updating: 8,
          succeeded: 140,
          failed: 6,
          failedByReason: { 'connection lost': 4, timeout: 2 },
        },
      ),
      conditions: JSON.stringify([
        {
          type: 'Ready',
          status: 'False',
          reason: 'Progressing',
          message: 'step 2 of 3',
          lastTransitionTime: '2025-03-01T10:00:00.000Z',
        },
      ]),
      updated_at: new Date('2025-03-01T10:06:00Z'),
    })
    .execute();
}

export async function updateRolloutCounts(
  db: Kysely<Database>,
  name: string,
  counts: Record<string, unknown>,
): Promise<void> {
  await db
    .updateTable('rollouts')
    .set({ counts: JSON.stringify(counts) })
    .where('name', '=', name)
    .execute();
}

export async function insertEvent(
  db: Kysely<Database>,
  fields: { type?: string; message?: string; rollout?: string | null; endpoint?: string | null } = {},
): Promise<number> {
  const row = await db
    .insertInto('events')
    .values({
      type: fields.type ?? 'UpdateStarted',
      message: fields.message ?? 'update started',
      rollout: fields.rollout === undefined ? 'canary' : fields.rollout,
      endpoint: fields.endpoint === undefined ? null : fields.endpoint,
      details: JSON.stringify({ attempt: 1 }),
      git_revision: 'abc1234def',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/** `count` events in one statement, each with `detailBytes` of padding in its details; returns their ids. */
export async function insertEvents(db: Kysely<Database>, count: number, detailBytes = 0): Promise<number[]> {
  const rows = await sql<{ id: number }>`
    insert into events (type, message, rollout, endpoint, details, git_revision)
    select 'UpdateStarted', 'update started ' || n, 'canary', 'dev-' || n,
           jsonb_build_object('attempt', 1, 'padding', repeat('x', ${detailBytes})), 'abc1234def'
    from generate_series(1, ${count}) as n
    returning id`.execute(db);
  return rows.rows.map((row) => Number(row.id)).sort((a, b) => a - b);
}

/** A small fleet: rollout canary (step 2 of 3, half done) with one device per interesting outcome. */
export async function seedFleet(db: Kysely<Database>): Promise<void> {
  await insertRollout(db, 'canary');
  await insertRollout(db, 'beta', {
    phase: 'Completed',
    currentStep: 2,
    counts: { selected: 1, upToDate: 1 },
  });
  const d1 = await insertDevice(db, 'dev-001');
  await insertUpdate(db, d1, 'dev-001', {
    attempt: 1,
    phase: 'failed',
    result: 4,
    failureReason: 'connection lost',
    finishedAt: new Date('2025-03-01T10:03:00Z'),
  });
  await insertUpdate(db, d1, 'dev-001', { attempt: 2, phase: 'downloading', state: 1 });
  const d2 = await insertDevice(db, 'dev-002', { firmwareVersion: '1.1.0' });
  await insertUpdate(db, d2, 'dev-002', { phase: 'succeeded', result: 1 });
  const d3 = await insertDevice(db, 'dev-003');
  await insertUpdate(db, d3, 'dev-003', {
    phase: 'failed',
    result: 5,
    failureReason: 'integrity check failure',
    finishedAt: new Date('2025-03-01T10:09:00Z'),
  });
  await insertDevice(db, 'dev-004', { registrationState: 'expired' });
}
