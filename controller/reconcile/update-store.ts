import type { Kysely, Transaction } from 'kysely';
import type { ActivePhase, Database, FirmwareUpdateRow, NewFirmwareUpdate } from '../store/index.js';

export interface UpdateEvent {
  readonly type: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

export interface EventContext {
  readonly rollout: string;
  readonly endpoint: string;
  readonly gitRevision: string | null;
}

type Db = Kysely<Database> | Transaction<Database>;

async function appendEvent(
  db: Db,
  ctx: EventContext,
  updateId: number | null,
  event: UpdateEvent,
): Promise<void> {
  await db
    .insertInto('events')
    .values({
      rollout: ctx.rollout,
      endpoint: ctx.endpoint,
      update_id: updateId,
      type: event.type,
      message: event.message,
      details: JSON.stringify(event.details ?? {}),
      git_revision: ctx.gitRevision,
    })
    .execute();
}

/**
 * Inserts new active updates and their events in one transaction and two statements. A device
 * that already has an active update (another pass or replica won the race) is skipped by the
 * one-active index, not reported as an error; only the rows inserted are returned.
 */
export async function beginUpdates(
  db: Kysely<Database>,
  values: readonly Omit<NewFirmwareUpdate, 'phase' | 'finished_at'>[],
  eventFor: (row: FirmwareUpdateRow) => UpdateEvent,
): Promise<FirmwareUpdateRow[]> {
  if (values.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .insertInto('firmware_updates')
      .values(values.map((v) => ({ ...v, phase: 'pending', finished_at: null })))
      .onConflict((oc) => oc.column('device_id').where('finished_at', 'is', null).doNothing())
      .returningAll()
      .execute();
    if (rows.length > 0) {
      await trx
        .insertInto('events')
        .values(
          rows.map((row) => {
            const event = eventFor(row);
            return {
              rollout: row.rollout,
              endpoint: row.endpoint,
              update_id: Number(row.id),
              type: event.type,
              message: event.message,
              details: JSON.stringify(event.details ?? {}),
              git_revision: row.git_revision,
            };
          }),
        )
        .execute();
    }
    return rows;
  });
}

/**
 * Moves an update from one of `from` to its next phase, with its event, atomically. Returns false
 * when the row was no longer in `from` (another pass or replica moved it first): the claim
 * that makes Execute happen once.
 */
export async function transitionUpdate(
  db: Kysely<Database>,
  id: number,
  from: readonly ActivePhase[],
  changes: Record<string, unknown>,
  ctx: EventContext,
  event: UpdateEvent,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const moved = await trx
      .updateTable('firmware_updates')
      .set(changes)
      .where('id', '=', id)
      .where('phase', 'in', [...from])
      .returning('id')
      .executeTakeFirst();
    if (!moved) return false;
    await appendEvent(trx, ctx, id, event);
    return true;
  });
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
