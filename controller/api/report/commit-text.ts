/** The commit fields a report line shows (CommitView, a manifest's GitCommit). */
export interface CommitFields {
  readonly author: string;
  readonly subject: string;
}

/** `(Ada Lovelace: approve step 2)`: who and why, without the sha. */
export function commitText(commit: CommitFields): string {
  return `(${commit.author}: ${commit.subject})`;
}

/**
 * A revision in one line: `abc1234 (Ada Lovelace: approve step 2)`, or the sha as stored when its
 * commit is not recorded, `-` without one (manifests outside git).
 */
export function revisionText(sha: string | null, commit: CommitFields | null | undefined): string {
  if (sha === null) return '-';
  return commit ? `${sha.slice(0, 7)} ${commitText(commit)}` : sha;
}
