import { type Kysely, sql } from 'kysely';
import { type CommitRecord, loadCommits } from './commits.js';
import { type GitSyncView, readGitSync } from './git-sync-status.js';
import type { Database } from './schema.js';

/** The problems kept of one attempt (the count says how many there were). */
export const MAX_STATUS_PROBLEMS = 50;

/** A commit of the manifests: HEAD, and whether the manifest files differed from it. */
export interface ManifestsRevision {
  readonly sha: string;
  readonly dirty: boolean;
}

/** A revision as the status shows it: with its author, time and subject where recorded (else null). */
export interface ManifestsRevisionView extends ManifestsRevision {
  readonly commit: CommitRecord | null;
}

/**
 * The controller's manifests status (issue 22), Flux's model: the revision of the last valid set
 * applied (what the controller acts on), the revision of the last load (valid or not), and whether
 * that load was valid (`ready`) with its problems. Revisions are null outside git.
 */
export interface ManifestsStatusView {
  readonly lastAppliedRevision: ManifestsRevisionView | null;
  readonly lastAttemptedRevision: ManifestsRevisionView | null;
  readonly ready: boolean;
  /** Every problem of the last attempt; `problems` holds the first MAX_STATUS_PROBLEMS. */
  readonly problemCount: number;
  /** `file:line:col: message` lines. */
  readonly problems: readonly string[];
  /** When `ready` last changed (ISO 8601). */
  readonly since: string;
  /** When the manifests were last loaded (ISO 8601). */
  readonly updatedAt: string;
  /**
   * The last sync of the clone with `otactl run --git-url`; null without one. While it fails the
   * manifests are read from the clone as the last good sync left it (`gitSync.head`).
   */
  readonly gitSync: (GitSyncView & { readonly headCommit: CommitRecord | null }) | null;
}

export type ManifestsLoad =
  | { readonly ready: true; readonly revision: ManifestsRevision | undefined }
  | {
      readonly ready: false;
      readonly revision: ManifestsRevision | undefined;
      readonly problems: readonly string[];
    };

/**
 * Records one load of the manifests. A valid one is also the applied revision; an invalid one keeps
 * the applied revision as it was. `since` moves only when `ready` changes. Times are the database's.
 */
export async function recordManifestsLoad(db: Kysely<Database>, load: ManifestsLoad): Promise<void> {
  const problems = load.ready ? [] : load.problems;
  const attempted = {
    attempted_sha: load.revision?.sha ?? null,
    attempted_dirty: load.revision?.dirty ?? false,
    ready: load.ready,
    problem_count: problems.length,
    problems: JSON.stringify(problems.slice(0, MAX_STATUS_PROBLEMS)),
  };
  const applied = {
    applied_sha: load.ready ? attempted.attempted_sha : null,
    applied_dirty: load.ready && attempted.attempted_dirty,
  };
  await db
    .insertInto('manifests_status')
    .values({ id: 1, ...attempted, ...applied, since: sql`now()`, updated_at: sql`now()` })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        ...attempted,
        // an invalid load leaves the applied revision as it was
        applied_sha: load.ready ? applied.applied_sha : sql`manifests_status.applied_sha`,
        applied_dirty: load.ready ? applied.applied_dirty : sql`manifests_status.applied_dirty`,
        since: sql`case when manifests_status.ready = excluded.ready then manifests_status.since else now() end`,
        updated_at: sql`now()`,
      }),
    )
    .execute();
}

/** The manifests status; undefined before the first load recorded. */
export async function readManifestsStatus(db: Kysely<Database>): Promise<ManifestsStatusView | undefined> {
  const [row, gitSync] = await Promise.all([
    db.selectFrom('manifests_status').selectAll().where('id', '=', 1).executeTakeFirst(),
    readGitSync(db),
  ]);
  if (!row) return undefined;
  const commits = await loadCommits(db, [row.applied_sha, row.attempted_sha, gitSync?.head ?? null]);
  const revision = (sha: string | null, dirty: boolean) =>
    sha === null ? null : { sha, dirty, commit: commits.get(sha) ?? null };
  return {
    lastAppliedRevision: revision(row.applied_sha, row.applied_dirty),
    lastAttemptedRevision: revision(row.attempted_sha, row.attempted_dirty),
    ready: row.ready,
    problemCount: row.problem_count,
    problems: row.problems,
    since: new Date(row.since).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    gitSync: gitSync && { ...gitSync, headCommit: gitSync.head ? (commits.get(gitSync.head) ?? null) : null },
  };
}
