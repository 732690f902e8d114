import type { Kysely, Transaction } from 'kysely';
import type { ActivePhase, Database, FirmwareUpdateRow, NewFirmwareUpdate } from '../store/index.js';
import { isUniqueViolation } from '../store/index.js';

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

export type BeginOutcome =
  | { readonly kind: 'started'; readonly update: FirmwareUpdateRow }
  | { readonly kind: 'already-active' };

/** Inserts a new active update and its event in one transaction; the one-active index decides races. */
export async function beginUpdate(
  db: Kysely<Database>,
  values: Omit<NewFirmwareUpdate, 'phase' | 'finished_at'>,
  event: UpdateEvent,
): Promise<BeginOutcome> {
  try {
    const update = await db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('firmware_updates')
        .values({ ...values, phase: 'pending', finished_at: null })
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendEvent(
        trx,
        { rollout: values.rollout, endpoint: values.endpoint, gitRevision: values.git_revision ?? null },
        Number(row.id),
        event,
      );
      return row;
    });
    return { kind: 'started', update };
  } catch (error) {
    if (isUniqueViolation(error, 'firmware_updates_one_active_per_device')) return { kind: 'already-active' };
    throw error;
  }
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
