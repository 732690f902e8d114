import type { Kysely } from 'kysely';
import { buildFirmwareCatalog, type SwappableCatalog } from '../firmware/index.js';
import type { Logger } from '../log/index.js';
import {
  type DesiredState,
  formatProblem,
  type GitCommit,
  type LoadResult,
  type Problem,
  problemCount,
} from '../manifests/index.js';
import { ensureCursors } from '../notifications/delivery-store.js';
import { appendRolloutEvent } from '../reconcile/index.js';
import { type Database, type ManifestsLoad, recordCommits, recordManifestsLoad } from '../store/index.js';

export interface ApplyManifestsDeps {
  readonly db: Kysely<Database>;
  readonly firmwareDir: string;
  /** Serves only the files the valid manifests declare (and whose sha256 matched). */
  readonly catalog: SwappableCatalog;
  readonly log: Logger;
  /** The desired state acted on so far (read once the new firmware catalog is built). */
  readonly current: () => DesiredState | undefined;
}

/**
 * Applies one load of the manifests. A valid set replaces the firmware served and is returned:
 * the new desired state. An invalid one changes nothing and returns undefined: the last valid
 * state stays, and the refusal is told in the events, once for the whole set and once more on
 * each rollout whose change was refused (a downgrade).
 */
export async function applyManifests(
  result: LoadResult,
  deps: ApplyManifestsDeps,
): Promise<DesiredState | undefined> {
  const { log } = deps;
  if (!result.ok) {
    await recordCommitsOf(deps, result.git ? [result.git.commit] : []);
    await tellRefused(result.problems, result.git?.sha ?? null, deps);
    await recordStatus(deps, {
      ready: false,
      revision: result.git,
      problems: result.problems.map((p) => formatProblem(p)),
    });
    return undefined;
  }
  const state = result.state;
  await recordCommitsOf(deps, commitsOf(state));
  await startNotifications(state, deps);
  await tellRecovered(state, deps);
  const built = await buildFirmwareCatalog(
    deps.firmwareDir,
    [...state.firmware.values()].map((f) => ({ file: f.file, sha256: f.sha256 })),
  );
  deps.catalog.replace(built.catalog);
  for (const problem of built.problems) log.warn({ file: problem.file }, problem.message);
  for (const warning of result.warnings) log.warn({ file: warning.file }, formatProblem(warning));
  if (deps.current()?.generation !== state.generation) {
    log.info(
      { generation: state.generation, rollouts: [...state.rollouts.keys()], commit: state.git?.sha },
      'applying manifests',
    );
  }
  await recordStatus(deps, { ready: true, revision: state.git });
  return state;
}

/** HEAD and the commit of every manifest file: each revision the rollouts, updates and events will name. */
function commitsOf(state: DesiredState): GitCommit[] {
  const sources = [state.firmware, state.groups, state.rollouts, state.notifications].flatMap((kind) =>
    [...kind.values()].map((m) => m.source.revision?.commit),
  );
  return [state.git?.commit, ...sources].filter((c): c is GitCommit => c !== undefined);
}

/**
 * The author, time and subject of the revisions stored from now on (see migration 0024), before
 * anything names them; best effort like the events: without them a revision shows as its sha.
 */
async function recordCommitsOf(
  { db, log }: ApplyManifestsDeps,
  commits: readonly GitCommit[],
): Promise<void> {
  await recordCommits(db, commits).catch((error: unknown) =>
    log.warn({ err: error }, 'could not record the commits of the manifests'),
  );
}

/**
 * A new Notification's cursor, at the newest event, before anything acts on the manifests that
 * bring it: it hears the first events of a rollout in the same commit (its step 1 starting).
 * Best effort: the notifier sets it too, at its next round.
 */
async function startNotifications(state: DesiredState, { db, log }: ApplyManifestsDeps): Promise<void> {
  await ensureCursors(db, [...state.notifications.keys()]).catch((error: unknown) =>
    log.warn({ err: error }, 'could not start the cursors of new Notifications'),
  );
}

/** The manifests status row (see recordManifestsLoad), best effort like the events. */
async function recordStatus({ db, log }: ApplyManifestsDeps, load: ManifestsLoad): Promise<void> {
  await recordManifestsLoad(db, load).catch((error: unknown) =>
    log.warn({ err: error }, 'could not record the manifests status'),
  );
}

/** Events are best effort here: a database down must not stop the controller acting on the last valid state. */
async function tellRefused(
  problems: readonly Problem[],
  gitRevision: string | null,
  { db, log }: ApplyManifestsDeps,
): Promise<void> {
  const lines = problems.map((p) => formatProblem(p));
  const counted = problemCount(lines.length);
  const at = gitRevision === null ? '' : ` at ${gitRevision.slice(0, 12)}`;
  log.error(
    { problems: lines, ...(gitRevision === null ? {} : { revision: gitRevision }) },
    `manifests${at} invalid (${counted}); keeping the last valid state`,
  );
  await appendRolloutEvent(db, null, gitRevision, {
    type: 'ManifestsInvalid',
    message: `${counted}; acting on the last valid manifests`,
    details: { problems: lines.slice(0, 50) },
  }).catch(() => {});
  for (const [rollout, refused] of problemsByRollout(problems)) {
    await appendRolloutEvent(db, rollout, gitRevision, {
      type: 'ManifestsInvalid',
      message: `change refused, acting on the last valid manifests: ${refused.map((p) => formatProblem(p)).join('; ')}`,
      details: { problems: refused.slice(0, 50).map((p) => formatProblem(p)) },
    }).catch(() => {});
  }
}

/**
 * A `ManifestsRecovered` event when the last word on the manifests as a whole was that they were
 * invalid: read from the events, so it holds across restarts and replicas. Best effort, as above.
 */
async function tellRecovered(state: DesiredState, { db, log }: ApplyManifestsDeps): Promise<void> {
  try {
    const last = await db
      .selectFrom('events')
      .select('type')
      .where('rollout', 'is', null)
      .where('type', 'in', ['ManifestsInvalid', 'ManifestsRecovered'])
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (last?.type !== 'ManifestsInvalid') return;
    const sha = state.git?.sha ?? null;
    const at = sha ? ` at ${sha.slice(0, 12)}${state.git?.dirty ? ' (with uncommitted changes)' : ''}` : '';
    log.info({ commit: sha }, `manifests valid again${at}`);
    await appendRolloutEvent(db, null, sha, {
      type: 'ManifestsRecovered',
      message: `manifests valid again${at}; acting on them`,
    });
  } catch {
    // the next valid load tells it
  }
}

function problemsByRollout(problems: readonly Problem[]): Map<string, Problem[]> {
  const byRollout = new Map<string, Problem[]>();
  for (const problem of problems) {
    if (problem.rollout === undefined) continue;
    byRollout.set(problem.rollout, [...(byRollout.get(problem.rollout) ?? []), problem]);
  }
  return byRollout;
}
