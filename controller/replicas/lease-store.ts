import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/index.js';

/** A lease as the database holds it; `remainingMs` is by the database clock. */
export interface LeaseRow {
  readonly name: string;
  readonly holder: string;
  readonly epoch: number;
  readonly remainingMs: number;
}

/**
 * Takes `name` for `holder` when it is free, expired, or already `holder`'s (a restarted process
 * with the same id), or whatever its state with `takeOver` (a database no other process can use):
 * the epoch goes up by one at every acquisition. Returns the new epoch, or undefined while another
 * holder's lease runs. One statement, timed by the database clock.
 */
export async function acquireLease(
  db: Kysely<Database>,
  name: string,
  holder: string,
  durationMs: number,
  options: { readonly takeOver?: boolean } = {},
): Promise<number | undefined> {
  const result = await sql<{ epoch: number }>`
    insert into leases as l (name, holder, epoch, acquired_at, renewed_at, expires_at)
    values (${name}, ${holder}, 1, now(), now(), now() + ${durationMs} * interval '1 millisecond')
    on conflict (name) do update set
      holder = excluded.holder, epoch = l.epoch + 1,
      acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
    where l.expires_at <= now() or l.holder = excluded.holder or ${options.takeOver === true}
    returning epoch`.execute(db);
  return result.rows[0]?.epoch;
}

/** Extends the lease of `holder` at `epoch` to `durationMs` from now; false when it has been taken. */
export async function renewLease(
  db: Kysely<Database>,
  name: string,
  holder: string,
  epoch: number,
  durationMs: number,
): Promise<boolean> {
  const result = await sql`
    update leases set renewed_at = now(), expires_at = now() + ${durationMs} * interval '1 millisecond'
    where name = ${name} and holder = ${holder} and epoch = ${epoch}`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

/** Lets the lease expire now, so another replica takes it without waiting (a clean stop). */
export async function releaseLease(
  db: Kysely<Database>,
  name: string,
  holder: string,
  epoch: number,
): Promise<void> {
  await sql`
    update leases set expires_at = greatest(now(), renewed_at)
    where name = ${name} and holder = ${holder} and epoch = ${epoch}`.execute(db);
}

export async function readLease(db: Kysely<Database>, name: string): Promise<LeaseRow | undefined> {
  const result = await sql<{ name: string; holder: string; epoch: number; remaining_ms: number }>`
    select name, holder, epoch,
      (extract(epoch from (expires_at - now())) * 1000)::float8 as remaining_ms
    from leases where name = ${name}`.execute(db);
  const row = result.rows[0];
  return row
    ? { name: row.name, holder: row.holder, epoch: Number(row.epoch), remainingMs: Number(row.remaining_ms) }
    : undefined;
}
