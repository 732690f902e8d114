import type { Logger } from '../log/index.js';
import { type GitSync, type GitSyncResult, syncGitRemote } from '../manifests/index.js';
import { ResourcePart } from './resource-part.js';

export interface GitSyncPartOptions {
  readonly url: string;
  readonly branch: string;
  /** The local clone; the manifests are read from it. */
  readonly dir: string;
  readonly intervalMs: number;
  readonly log: Logger;
  /** Hears every sync's outcome, the first one too (see GitSyncStatus). */
  readonly onSync?: (result: GitSyncResult) => Promise<void>;
}

/** The first sync failed: there is nothing to read manifests from. */
export class GitCloneError extends Error {
  constructor(url: string, message: string) {
    super(`cannot clone ${url}: ${message}`);
    this.name = 'GitCloneError';
  }
}

/**
 * A clone of the manifests repository, fast-forwarded every `intervalMs`. Ready once the first
 * sync succeeded, so the watcher started after it finds the manifests.
 */
export function gitSyncPart(options: GitSyncPartOptions): ResourcePart<GitSync> {
  const { log } = options;
  return new ResourcePart(
    'git sync',
    async () => {
      // the first sync's failure is the start's error, not a log line
      let started = false;
      const sync = syncGitRemote({
        url: options.url,
        branch: options.branch,
        dir: options.dir,
        intervalMs: options.intervalMs,
        onSync: async (result) => {
          if (result.kind === 'failed' && started)
            log.error({ reason: result.reason }, `git sync failed: ${result.message}`);
          else if (result.kind !== 'unchanged' && result.kind !== 'failed') log.info({ result }, 'git sync');
          await options.onSync?.(result);
        },
      });
      const first = await sync.syncNow();
      started = true;
      if (first.kind === 'failed') {
        await sync.close();
        throw new GitCloneError(options.url, first.message);
      }
      return sync;
    },
    (sync) => sync.close(),
  );
}
