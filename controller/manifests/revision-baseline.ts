import { mkdir, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { runGit } from './git-run.js';
import { loadDesiredState } from './load-desired-state.js';
import { problemCount } from './problem.js';
import type { PreviousTargets } from './semantic-checks.js';

export type RevisionBaseline =
  | { readonly kind: 'ok'; readonly revision: string; readonly targets: PreviousTargets }
  /** Nothing to compare with: not in a git work tree, or no commit yet (only when defaulted). */
  | { readonly kind: 'none' }
  | { readonly kind: 'error'; readonly message: string };

/**
 * What each Rollout installed in the manifests as committed at `revision` (default HEAD), so
 * `validate` can refuse a downgrade the running controller would refuse against its last valid
 * state. The directory's tree at that revision is checked out into a temporary directory through
 * a private index (the repository's own index and work tree are untouched) and loaded there.
 */
export async function readRevisionBaseline(dir: string, revision?: string): Promise<RevisionBaseline> {
  const realDir = await realpath(dir).catch(() => undefined);
  // Not a directory: the manifests loader reports that; there is nothing to compare with.
  if (!realDir || !(await stat(realDir)).isDirectory()) return { kind: 'none' };
  const top = await runGit(['rev-parse', '--show-toplevel'], { cwd: realDir });
  if (top.kind !== 'ok') {
    return revision === undefined
      ? { kind: 'none' }
      : { kind: 'error', message: `--against ${revision}: ${dir} is not inside a git work tree` };
  }
  const root = top.stdout.trim();
  const wanted = revision ?? 'HEAD';
  const commit = await runGit(['rev-parse', '--verify', '-q', `${wanted}^{commit}`], { cwd: root });
  if (commit.kind !== 'ok') {
    return revision === undefined
      ? { kind: 'none' }
      : { kind: 'error', message: `--against ${revision}: no such commit` };
  }
  const sha = commit.stdout.trim();
  const relDir = path.relative(root, realDir).split(path.sep).join('/');
  const tree = await runGit(['rev-parse', '--verify', '-q', `${sha}:${relDir}`], { cwd: root });
  // The directory did not exist then: every rollout is new, nothing to compare with.
  if (tree.kind !== 'ok') return { kind: 'ok', revision: sha, targets: { rollouts: new Map() } };

  const scratch = await mkdtemp(path.join(tmpdir(), 'otactl-baseline-'));
  try {
    const env = { GIT_INDEX_FILE: path.join(scratch, 'index') };
    const checkout = path.join(scratch, 'manifests');
    await mkdir(checkout);
    const read = await runGit(['read-tree', tree.stdout.trim()], { cwd: root, env });
    const written =
      read.kind === 'ok'
        ? await runGit(['checkout-index', '-a', `--prefix=${checkout}/`], { cwd: root, env })
        : read;
    if (written.kind !== 'ok') {
      return { kind: 'error', message: `cannot read the manifests at ${wanted}: ${written.stderr}` };
    }
    const loaded = await loadDesiredState(checkout, { git: false });
    if (!loaded.ok) {
      return {
        kind: 'error',
        message: `the manifests at ${wanted} (${sha.slice(0, 12)}) are invalid (${problemCount(loaded.problems.length)}); pick a valid --against revision`,
      };
    }
    return { kind: 'ok', revision: sha, targets: loaded.state };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
