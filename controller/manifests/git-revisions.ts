import { realpath } from 'node:fs/promises';
import path from 'node:path';

import type { GitCommit, GitRevision } from './desired-state.js';
import { runGit } from './git-run.js';

/** Git state of a manifests directory: HEAD, each file's revision, and tracked files deleted in the work tree. */
export interface GitSnapshot {
  /** HEAD commit; undefined in a repository without commits. */
  readonly head: GitCommit | undefined;
  /** By absolute file path as given. */
  readonly revisions: ReadonlyMap<string, GitRevision>;
  /** Absolute paths of tracked files under the directory that were deleted without a commit. */
  readonly deleted: readonly string[];
  readonly dirty: boolean;
}

const RECORD = '\x1e';
/** sha, author name, author email, author time, subject; NUL-separated (git refuses NUL in any of them). */
const COMMIT_FORMAT = '%H%x00%an%x00%ae%x00%aI%x00%s';

/** A `RECORD COMMIT_FORMAT` line; undefined for anything else (a repository without commits). */
function parseCommit(line: string): GitCommit | undefined {
  if (!line.startsWith(RECORD)) return undefined;
  const [sha = '', author = '', email = '', time = '', subject = ''] = line.slice(1).split('\0');
  return sha === '' ? undefined : { sha, author, email, time, subject };
}

/**
 * Reads the revisions of `files` (absolute paths under `dir`) with three git processes
 * whatever the number of files: status for the working copy, and one `git log --name-only`
 * over the directory, newest first, stopped once every file has its commit.
 * Undefined when `dir` is not inside a git work tree.
 */
export async function readGitSnapshot(
  dir: string,
  files: readonly string[],
): Promise<GitSnapshot | undefined> {
  const realDir = await realpath(dir).catch(() => undefined);
  if (!realDir) return undefined;
  const top = await runGit(['rev-parse', '--show-toplevel'], { cwd: realDir });
  if (top.kind !== 'ok') return undefined;
  const root = top.stdout.trim();
  const relDir = path.relative(root, realDir) || '.';

  // git reports paths relative to the top level; map them back to the caller's spelling
  const byGitPath = new Map<string, string>();
  for (const file of files) {
    const real = await realpath(file).catch(() => path.resolve(realDir, path.relative(dir, file)));
    byGitPath.set(toGitPath(path.relative(root, real)), file);
  }

  const headResult = await runGit(['log', '-1', `--format=${RECORD}${COMMIT_FORMAT}`, 'HEAD', '--'], {
    cwd: root,
  });
  const head = headResult.kind === 'ok' ? parseCommit(headResult.stdout.trim()) : undefined;
  const status = await readStatus(root, relDir);
  const commits = head
    ? await readLastCommits(root, relDir, new Set(byGitPath.keys()))
    : new Map<string, GitCommit>();

  const revisions = new Map<string, GitRevision>();
  for (const [gitPath, file] of byGitPath) {
    const commit = commits.get(gitPath);
    revisions.set(file, { commit, dirty: commit === undefined || status.changed.has(gitPath) });
  }
  const deleted = [...status.deleted].map((p) => path.join(root, p));
  const dirty = deleted.length > 0 || [...revisions.values()].some((r) => r.dirty);
  return { head, revisions, deleted, dirty };
}

interface Status {
  readonly changed: ReadonlySet<string>;
  readonly deleted: ReadonlySet<string>;
}

async function readStatus(root: string, relDir: string): Promise<Status> {
  const changed = new Set<string>();
  const deleted = new Set<string>();
  const result = await runGit(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--', relDir], {
    cwd: root,
  });
  if (result.kind !== 'ok') return { changed, deleted };
  const entries = result.stdout.split('\0');
  for (let i = 0; i < entries.length; i += 1) {
    const entry = entries[i]!;
    if (entry.length < 4) continue;
    const code = entry.slice(0, 2);
    const file = entry.slice(3);
    if (code[0] === 'R' || code[0] === 'C') i += 1; // the next entry is the original path
    if (code.includes('D')) deleted.add(file);
    else changed.add(file);
  }
  return { changed, deleted };
}

async function readLastCommits(
  root: string,
  relDir: string,
  wanted: ReadonlySet<string>,
): Promise<Map<string, GitCommit>> {
  const found = new Map<string, GitCommit>();
  if (wanted.size === 0) return found;
  let pending = '';
  let current: GitCommit | undefined;
  const consume = (line: string): void => {
    if (line.startsWith(RECORD)) {
      current = parseCommit(line);
    } else if (current && line !== '' && wanted.has(line) && !found.has(line)) {
      found.set(line, current);
    }
  };
  await runGit(['log', `--format=${RECORD}${COMMIT_FORMAT}`, '--name-only', '--', relDir], {
    cwd: root,
    onStdout: (chunk) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) consume(line);
      return found.size === wanted.size;
    },
  });
  if (pending !== '') consume(pending);
  return found;
}

function toGitPath(relative: string): string {
  return relative.split(path.sep).join('/');
}
