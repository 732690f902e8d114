import type { Logger } from '../log/index.js';
import { type GitSync, syncGitRemote } from '../manifests/index.js';
import { ResourcePart } from './resource-part.js';

export interface GitSyncPartOptions {
  readonly url: string;
  readonly branch: string;
  /** The local clone; the manifests are read from it. */
  readonly dir: string;
  readonly intervalMs: number;
  readonly log: Logger;
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
      const sync = syncGitRemote({
        url: options.url,
        branch: options.branch,
        dir: options.dir,
        intervalMs: options.intervalMs,
        onSync: (result) => {
          if (result.kind === 'failed')
            log.error({ reason: result.reason }, `git sync failed: ${result.message}`);
          else if (result.kind !== 'unchanged') log.info({ result }, 'git sync');
        },
      });
      const first = await sync.syncNow();
      if (first.kind === 'failed') {
        await sync.close();
        throw new GitCloneError(options.url, first.message);
      }
      return sync;
    },
    (sync) => sync.close(),
  );
}
