import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../store/index.js';

/** What a leader-only write carries: the lease it holds and the epoch it acquired it with. */
export interface Fence {
  readonly lease: string;
  readonly holder: string;
  readonly epoch: number;
}

export type FencedResult<T> =
  | { readonly kind: 'written'; readonly value: T }
  /** The lease has another holder or epoch, or expired: nothing was written. */
  | { readonly kind: 'refused' };

/**
 * Runs `write` in a transaction that first checks, by the database clock, that `fence` still holds
 * its lease, and keeps the lease row share-locked until commit. Whoever takes the lease over must
 * update that row, so it waits for this transaction, and a transaction that starts after the
 * takeover finds another holder or epoch and writes nothing. A stale leader's writes are refused
 * by the database, whatever its own clock says.
 *
 * The transaction may wait for its client no longer than the lease had left at the check
 * (idle_in_transaction_session_timeout, for this transaction only): a leader cut off from the
 * database in the middle of it (a network black hole, where its connection lingers for hours) would
 * otherwise keep the row locked, and every takeover waiting, until the network healed.
 */
export async function fencedWrite<T>(
  db: Kysely<Database>,
  fence: Fence,
  write: (trx: Transaction<Database>) => Promise<T>,
): Promise<FencedResult<T>> {
  return db.transaction().execute(async (trx): Promise<FencedResult<T>> => {
    const held = await sql<{ epoch: number }>`
      select epoch, set_config('idle_in_transaction_session_timeout',
          ceil(extract(epoch from expires_at - now()) * 1000)::bigint::text, true)
      from leases
      where name = ${fence.lease} and holder = ${fence.holder} and epoch = ${fence.epoch}
        and expires_at > now()
      for share`.execute(trx);
    if (held.rows.length === 0) return { kind: 'refused' };
    return { kind: 'written', value: await write(trx) };
  });
}
