import type { Stats } from 'node:fs';

/** Remembers sha256 digests by (path, size, mtime, inode) so an unchanged file is never hashed twice. */
export interface HashCache {
  get(path: string, stats: Stats): string | undefined;
  set(path: string, stats: Stats, sha256: string): void;
}

interface CachedDigest {
  readonly fingerprint: string;
  readonly sha256: string;
}

function fingerprint(stats: Stats): string {
  return `${stats.size}:${stats.mtimeMs}:${stats.ino}:${stats.dev}`;
}

export function createHashCache(): HashCache {
  const entries = new Map<string, CachedDigest>();
  return {
    get(path, stats) {
      const entry = entries.get(path);
      return entry?.fingerprint === fingerprint(stats) ? entry.sha256 : undefined;
    },
    set(path, stats, sha256) {
      entries.set(path, { fingerprint: fingerprint(stats), sha256 });
    },
  };
}

/** Shared by every catalog build in this process unless a caller passes its own. */
export const defaultHashCache: HashCache = createHashCache();
