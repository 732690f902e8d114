import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.js';

/** One sync of the manifests clone (`otactl run --git-url`), as recorded. */
export type GitSyncOutcome =
  | { readonly ok: true; readonly head: string }
  | { readonly ok: false; readonly reason: string; readonly message: string };

/**
 * The last sync of the manifests clone, in the manifests status (issue 22): a failure (the remote
 * rewritten, unreachable, ...) stays shown until a sync succeeds. Times are ISO 8601.
 */
export interface GitSyncView {
  /** The remote, without credentials. */
  readonly url: string;
  readonly branch: string;
  readonly ok: boolean;
  /** The clone's HEAD after the last sync that succeeded: what the manifests are read from. */
  readonly head: string | null;
  /** clone, fetch, not-fast-forward or git; null when the last sync succeeded. */
  readonly reason: string | null;
  /** git's own words for the failure; null when the last sync succeeded. */
  readonly message: string | null;
  /** When the syncs began failing; null while they succeed. */
  readonly failingSince: string | null;
  readonly lastSuccessAt: string | null;
  /** When the last sync ended. */
  readonly checkedAt: string;
}

/** Records one sync's outcome; `failing_since` moves only when a failure follows a success. Database time. */
export async function recordGitSync(
  db: Kysely<Database>,
  remote: { readonly url: string; readonly branch: string },
  outcome: GitSyncOutcome,
): Promise<void> {
  const values = outcome.ok
    ? { ok: true, head: outcome.head, reason: null, message: null }
    : { ok: false, reason: outcome.reason, message: outcome.message };
  await db
    .insertInto('git_sync_status')
    .values({
      id: 1,
      url: remote.url,
      branch: remote.branch,
      head: null,
      ...values,
      failing_since: outcome.ok ? null : sql`now()`,
      last_success_at: outcome.ok ? sql`now()` : null,
      checked_at: sql`now()`,
    })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        url: remote.url,
        branch: remote.branch,
        ...values,
        // a failure leaves the clone, so its HEAD, as it was
        head: outcome.ok ? outcome.head : sql`git_sync_status.head`,
        failing_since: outcome.ok ? null : sql`coalesce(git_sync_status.failing_since, now())`,
        last_success_at: outcome.ok ? sql`now()` : sql`git_sync_status.last_success_at`,
        checked_at: sql`now()`,
      }),
    )
    .execute();
}

/** The controller runs without a clone to sync: an earlier run's outcome no longer says anything. */
export async function clearGitSync(db: Kysely<Database>): Promise<void> {
  await db.deleteFrom('git_sync_status').execute();
}

export async function readGitSync(db: Kysely<Database>): Promise<GitSyncView | null> {
  const row = await db.selectFrom('git_sync_status').selectAll().where('id', '=', 1).executeTakeFirst();
  if (!row) return null;
  const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString());
  return {
    url: row.url,
    branch: row.branch,
    ok: row.ok,
    head: row.head,
    reason: row.reason,
    message: row.message,
    failingSince: iso(row.failing_since),
    lastSuccessAt: iso(row.last_success_at),
    checkedAt: new Date(row.checked_at).toISOString(),
  };
}
