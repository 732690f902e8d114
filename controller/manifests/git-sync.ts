import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

import { runGit } from './git-run.js';

export interface GitSyncOptions {
  readonly url: string;
  readonly branch: string;
  /** Local clone; created when missing. */
  readonly dir: string;
  /** Pause between syncs; 0 or undefined: sync only when `syncNow` is called. */
  readonly intervalMs?: number;
  /**
   * Hears every sync's outcome, periodic or asked for with `syncNow`, which resolves once it has
   * heard it (a promise returned is awaited; its failure is ignored).
   */
  readonly onSync?: (result: GitSyncResult) => void | Promise<void>;
}

export type GitSyncResult =
  | { readonly kind: 'cloned'; readonly head: string }
  | { readonly kind: 'updated'; readonly from: string; readonly to: string }
  | { readonly kind: 'unchanged'; readonly head: string }
  | {
      readonly kind: 'failed';
      readonly reason: 'clone' | 'fetch' | 'not-fast-forward' | 'git';
      readonly message: string;
    };

export interface GitSync {
  /** Clone if needed, then fetch and fast-forward; never runs two syncs at once. */
  syncNow(): Promise<GitSyncResult>;
  close(): Promise<void>;
}

/**
 * Keeps a local clone of `branch` fast-forwarded to the remote (fetch + merge --ff-only). A
 * remote that was rewritten is refused (not-fast-forward) and the clone stays as it is; watch
 * `dir` with watchManifests to pick up what a sync brings.
 */
export function syncGitRemote(options: GitSyncOptions): GitSync {
  let running: Promise<GitSyncResult> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const syncNow = (): Promise<GitSyncResult> => {
    running ??= syncOnce(options)
      .then(async (result) => {
        try {
          await options.onSync?.(result);
        } catch {
          // the listener's own failure is its business
        }
        return result;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  const tick = () => {
    timer = setTimeout(async () => {
      await syncNow();
      if (closed) return;
      tick();
    }, options.intervalMs);
  };
  if (options.intervalMs && options.intervalMs > 0) tick();

  return {
    syncNow,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await running;
    },
  };
}

async function syncOnce({ url, branch, dir }: GitSyncOptions): Promise<GitSyncResult> {
  const target = path.resolve(dir);
  if (!(await exists(path.join(target, '.git')))) {
    await mkdir(path.dirname(target), { recursive: true });
    const clone = await runGit(
      ['clone', '--quiet', '--single-branch', '--branch', branch, '--', url, target],
      {
        cwd: path.dirname(target),
      },
    );
    if (clone.kind !== 'ok') return { kind: 'failed', reason: 'clone', message: clone.stderr };
    const head = await revParse(target, 'HEAD');
    return head
      ? { kind: 'cloned', head }
      : { kind: 'failed', reason: 'git', message: 'no HEAD after clone' };
  }
  const before = await revParse(target, 'HEAD');
  const fetch = await runGit(
    ['fetch', '--quiet', 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`],
    {
      cwd: target,
    },
  );
  if (fetch.kind !== 'ok') return { kind: 'failed', reason: 'fetch', message: fetch.stderr };
  const merge = await runGit(['merge', '--ff-only', '--quiet', `refs/remotes/origin/${branch}`], {
    cwd: target,
  });
  if (merge.kind !== 'ok') return { kind: 'failed', reason: 'not-fast-forward', message: merge.stderr };
  const after = await revParse(target, 'HEAD');
  if (!after) return { kind: 'failed', reason: 'git', message: 'no HEAD after merge' };
  return before === after
    ? { kind: 'unchanged', head: after }
    : { kind: 'updated', from: before ?? '', to: after };
}

/** A remote URL fit to show and store: `https://user:token@host/x` becomes `https://host/x`. */
export function publicGitUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

/** git's message with any credentials in URLs removed, trimmed, at most 1,000 characters. */
export function publicGitMessage(message: string): string {
  return message
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1')
    .trim()
    .slice(0, 1_000);
}

async function revParse(cwd: string, ref: string): Promise<string | undefined> {
  const result = await runGit(['rev-parse', '--verify', '-q', ref], { cwd });
  return result.kind === 'ok' ? result.stdout.trim() : undefined;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
