import { problemCount } from '../../manifests/problem.js';
import type { GitSyncView } from '../../store/git-sync-status.js';
import type { ManifestsRevisionView, ManifestsStatusView } from '../../store/manifests-status.js';
import { type CommitFields, commitText, revisionText } from './commit-text.js';

/** Problems printed under a NOT READY line; the rest are in `status --json` and /api/v1/manifests. */
export const SHOWN_PROBLEMS = 5;

/** `abc1234`, or `abc1234-dirty` when manifest files differed from that commit. */
function shortRevision(revision: ManifestsRevisionView): string {
  return `${revision.sha.slice(0, 7)}${revision.dirty ? '-dirty' : ''}`;
}

/** ` at abc1234 (Ada: subject)`, or nothing outside git. */
function atRevision(revision: ManifestsRevisionView | null): string {
  if (revision === null) return '';
  const commit = revision.commit ? ` ${commitText(revision.commit)}` : '';
  return ` at ${shortRevision(revision)}${commit}`;
}

/**
 * The line at the top of `otactl status`: `manifests: ready at <sha7>`, or
 * `manifests: NOT READY (N problems at <sha7>; acting on <sha7>)` and the first problems.
 */
export function renderManifestsStatus(status: ManifestsStatusView | undefined): string {
  if (status === undefined) return 'manifests: not loaded yet';
  const sync = status.gitSync ? `\n${renderGitSync(status.gitSync)}` : '';
  return `${renderLoad(status)}${sync}`;
}

/**
 * `git sync: ok, <branch> of <url> at <sha7> (<author>: <subject>)`, or
 * `git sync: FAILING since <time> (<reason>, <branch> of <url>); manifests read from <sha7> (...)`
 * and git's message.
 */
export function renderGitSync(sync: GitSyncView & { readonly headCommit?: CommitFields | null }): string {
  const from = `${sync.branch} of ${sync.url}`;
  const head = sync.head === null ? '?' : revisionText(sync.head.slice(0, 7), sync.headCommit);
  if (sync.ok) return `git sync: ok, ${from} at ${head}`;
  const kept = sync.head ? `; manifests read from ${head}` : '';
  const lines = [
    `git sync: FAILING since ${sync.failingSince ?? sync.checkedAt} (${sync.reason}, ${from})${kept}`,
  ];
  const message = (sync.message ?? '').split('\n').filter((line) => line.trim() !== '');
  for (const line of message.slice(0, SHOWN_PROBLEMS)) lines.push(`  ${line.trim()}`);
  return lines.join('\n');
}

function renderLoad(status: ManifestsStatusView): string {
  if (status.ready) return `manifests: ready${atRevision(status.lastAppliedRevision)}`;
  const count = status.problemCount;
  const acting = status.lastAppliedRevision
    ? `acting on ${shortRevision(status.lastAppliedRevision)}`
    : 'acting on the last valid manifests';
  const lines = [
    `manifests: NOT READY (${problemCount(count)}${atRevision(status.lastAttemptedRevision)}; ${acting})`,
    ...status.problems.slice(0, SHOWN_PROBLEMS).map((p) => `  ${p}`),
  ];
  if (count > SHOWN_PROBLEMS) lines.push(`  ... and ${count - SHOWN_PROBLEMS} more (otactl status --json)`);
  return lines.join('\n');
}
