import type { Kysely } from 'kysely';
import type { Logger } from '../log/index.js';
import { type GitSyncResult, publicGitMessage, publicGitUrl } from '../manifests/index.js';
import { appendRolloutEvent, type UpdateEvent } from '../reconcile/index.js';
import {
  clearGitSync,
  type Database,
  type GitSyncOutcome,
  type OpenDatabase,
  recordGitSync,
} from '../store/index.js';
import type { Runnable } from './runnable.js';

function outcomeOf(result: GitSyncResult): GitSyncOutcome {
  switch (result.kind) {
    case 'cloned':
    case 'unchanged':
      return { ok: true, head: result.head };
    case 'updated':
      return { ok: true, head: result.to };
    case 'failed':
      return { ok: false, reason: result.reason, message: publicGitMessage(result.message) };
  }
}

/**
 * The outcome of the clone's syncs, for the manifests status (issue 22). The git sync starts
 * before the database is open: the latest outcome is held and written once the database is there,
 * then every later one as it comes (in order, best effort like the events).
 */
export class GitSyncStatus {
  readonly #remote: { readonly url: string; readonly branch: string };
  readonly #log: Logger;
  #latest: GitSyncOutcome | undefined;
  #db: Kysely<Database> | undefined;
  #writes: Promise<void> = Promise.resolve();

  constructor(remote: { readonly url: string; readonly branch: string }, log: Logger) {
    this.#remote = { url: publicGitUrl(remote.url), branch: remote.branch };
    this.#log = log;
  }

  /** Hears one sync; resolves once it is recorded (or held, before the database is open). */
  report(result: GitSyncResult): Promise<void> {
    this.#latest = outcomeOf(result);
    return this.#write();
  }

  attach(db: Kysely<Database>): Promise<void> {
    this.#db = db;
    return this.#write();
  }

  /** No more writes; resolves once the one under way ended. */
  async detach(): Promise<void> {
    this.#db = undefined;
    await this.#writes;
  }

  #write(): Promise<void> {
    const db = this.#db;
    const outcome = this.#latest;
    if (db === undefined || outcome === undefined) return this.#writes;
    this.#writes = this.#writes.then(() =>
      recordAndTell(db, this.#remote, outcome).catch((error: unknown) =>
        this.#log.warn({ err: error }, 'could not record the git sync status'),
      ),
    );
    return this.#writes;
  }
}

/**
 * Records one sync and, when the syncs begin or stop failing, an event that tells it
 * (GitSyncFailed, GitSyncRecovered: a Notification may send them, as Flux's notification-controller
 * alerts on a source it cannot fetch). Judged against the stored outcome in one transaction, so a
 * restart neither repeats nor misses the change, and a failure repeated every interval is told once.
 */
async function recordAndTell(
  db: Kysely<Database>,
  remote: { readonly url: string; readonly branch: string },
  outcome: GitSyncOutcome,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom('git_sync_status')
      .select('ok')
      .where('id', '=', 1)
      .forUpdate()
      .executeTakeFirst();
    await recordGitSync(trx, remote, outcome);
    const event = gitSyncEvent(before?.ok, remote, outcome);
    if (event) await appendRolloutEvent(trx, null, null, event);
  });
}

/** The event of a sync whose outcome differs from the last one recorded (none: no row yet). */
function gitSyncEvent(
  wasOk: boolean | undefined,
  remote: { readonly url: string; readonly branch: string },
  outcome: GitSyncOutcome,
): UpdateEvent | undefined {
  const where = `${remote.branch} of ${remote.url}`;
  if (!outcome.ok && wasOk !== false) {
    return {
      type: 'GitSyncFailed',
      message: `git sync failing (${outcome.reason}, ${where}): ${outcome.message.split('\n', 1)[0]}`,
      details: { ...remote, reason: outcome.reason, message: outcome.message },
    };
  }
  if (outcome.ok && wasOk === false) {
    return {
      type: 'GitSyncRecovered',
      message: `git sync ok again: ${where} at ${outcome.head.slice(0, 12)}`,
      details: { ...remote, head: outcome.head },
    };
  }
  return undefined;
}

/**
 * Records the git sync's outcomes in the database the part before it opened; without a clone to
 * sync, removes an earlier run's so no stale failure is shown.
 */
export class GitSyncStatusPart implements Runnable {
  readonly name = 'git sync status';
  readonly #database: { readonly current: OpenDatabase };
  readonly #status: GitSyncStatus | undefined;
  readonly #log: Logger;

  constructor(database: { readonly current: OpenDatabase }, status: GitSyncStatus | undefined, log: Logger) {
    this.#database = database;
    this.#status = status;
    this.#log = log;
  }

  async start(): Promise<void> {
    const { db } = this.#database.current;
    if (this.#status) await this.#status.attach(db);
    else
      await clearGitSync(db).catch((error: unknown) =>
        this.#log.warn({ err: error }, 'could not clear the git sync status'),
      );
  }

  async stop(): Promise<void> {
    await this.#status?.detach();
  }
}
