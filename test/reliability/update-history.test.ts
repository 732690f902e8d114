import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { beginUpdates } from '../../controller/reconcile/write/update-store.js';
import type { Database, OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import { checkUpdateHistory } from './harness/update-history.js';

const backend = testBackends[0]!;

/** One device on 2.0.0 with one update of rollout `r` whose events after UpdateStarted are `types`. */
async function updateWithEvents(db: Kysely<Database>, types: readonly string[]): Promise<void> {
  const device = await db
    .insertInto('devices')
    .values({ endpoint: 'dev-1', firmware_version: '2.0.0', updated_at: new Date() })
    .returning('id')
    .executeTakeFirstOrThrow();
  const [update] = await beginUpdates(
    db,
    [
      {
        device_id: device.id,
        endpoint: 'dev-1',
        rollout: 'r',
        firmware: 'fw-2.0.0',
        target_version: '2.0.0',
        attempt: 1,
        phase_changed_at: new Date(),
      },
    ],
    () => ({ type: 'UpdateStarted', message: 'started' }),
  );
  for (const type of types) {
    await db
      .insertInto('events')
      .values({
        rollout: 'r',
        endpoint: 'dev-1',
        update_id: update!.id,
        type,
        message: type,
        git_revision: null,
      })
      .execute();
  }
  await db
    .updateTable('firmware_updates')
    .set({ phase: 'succeeded', result: 1, finished_at: new Date() })
    .where('id', '=', update!.id)
    .execute();
}

const expectation = { endpoints: ['dev-1'], targetVersion: '2.0.0', rollout: 'r' };
const MOVES = ['PackageUriWritten', 'DownloadCompleted', 'UpdateExecuted', 'UpdateSucceeded'];

describe("the reliability tests' update history check", () => {
  let store: OpenDatabase | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('takes ReconcileFailed anywhere after UpdateStarted as no move of the update', async () => {
    store = await backend.open();
    await updateWithEvents(store.db, [
      'ReconcileFailed',
      MOVES[0]!,
      MOVES[1]!,
      'ReconcileFailed',
      MOVES[2]!,
      MOVES[3]!,
      'ReconcileFailed',
    ]);
    expect((await checkUpdateHistory(store.db, expectation)).violations).toEqual([]);
  });

  it('still finds moves out of order around a ReconcileFailed', async () => {
    store = await backend.open();
    await updateWithEvents(store.db, [MOVES[0]!, 'ReconcileFailed', MOVES[2]!, MOVES[3]!]);
    expect((await checkUpdateHistory(store.db, expectation)).violations).toEqual([
      'dev-1: update 1 events out of order: UpdateStarted -> PackageUriWritten -> UpdateExecuted -> UpdateSucceeded',
    ]);
  });
});
