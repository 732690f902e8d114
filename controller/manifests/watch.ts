import { type FSWatcher, statSync, watch } from 'node:fs';
import path from 'node:path';

import type { DesiredState } from './desired-state.js';
import { type LoadOptions, type LoadResult, loadListedManifests } from './load-desired-state.js';
import { atFile, type Listing, listManifestFiles } from './load-files.js';
import type { Problem } from './problem.js';

export interface WatchOptions extends Omit<LoadOptions, 'previous'> {
  /** Quiet time after the last file event before reloading (default 200 ms). */
  readonly debounceMs?: number;
}

export interface ManifestWatcher {
  /** Resolves once the initial load has been reported and the directories are watched. */
  readonly ready: Promise<void>;
  /** The last valid desired state; an invalid change never replaces it. */
  current(): DesiredState | undefined;
  close(): Promise<void>;
}

/**
 * Watches the manifests (and the firmware directory, when given) and reloads the whole set
 * after each burst of changes. `onChange` hears a valid result when a new generation appears,
 * the set becomes valid again after being invalid, or its warnings change, and an invalid result
 * when the problems change. An atomic save (write to a temporary file, rename over) or a
 * half-written file is just another event: a failed load keeps the last valid state and the next
 * event reloads.
 *
 * What is watched is what the loader walked: one watch per directory of the listing (symbolic
 * links to directories are followed by neither, the walk's entry cap bounds both) plus the
 * firmware directory itself (firmware files are named without sub-directories).
 */
export function watchManifests(
  dir: string,
  options: WatchOptions,
  onChange: (result: LoadResult) => void,
): ManifestWatcher {
  const root = path.resolve(dir);
  const firmwareDir = options.firmwareDir ? path.resolve(options.firmwareDir) : undefined;
  const debounceMs = options.debounceMs ?? 200;
  const watchers = new Map<string, FSWatcher>();
  let lastValid: DesiredState | undefined;
  let lastReport: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let loading: Promise<void> | undefined;
  let again = false;
  let closed = false;

  const reportKey = (result: LoadResult) =>
    result.ok
      ? `valid:${result.state.generation}:${JSON.stringify(result.warnings)}`
      : `invalid:${JSON.stringify(result.problems)}`;

  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), debounceMs);
  };

  const onEvent = (_event: string, name: string | Buffer | null) => {
    // Dot entries are not manifests (editor swap files, .git), but Kubernetes swaps a mounted
    // ConfigMap by renaming its `..data` link: names starting with '..' count.
    const base = typeof name === 'string' ? name : name?.toString();
    if (base?.startsWith('.') && !base.startsWith('..')) return;
    schedule();
  };

  /** Watches exactly `wanted`; returns whether a directory was added, and what could not be watched. */
  const syncWatches = (wanted: ReadonlySet<string>): { added: boolean; problems: Problem[] } => {
    for (const [watched, watcher] of watchers) {
      if (!wanted.has(watched)) {
        watcher.close();
        watchers.delete(watched);
      }
    }
    let added = false;
    const problems: Problem[] = [];
    for (const target of wanted) {
      if (watchers.has(target)) continue;
      try {
        const watcher = watch(target, { persistent: true }, onEvent);
        watcher.on('error', () => {
          watcher.close();
          if (watchers.get(target) === watcher) watchers.delete(target);
          schedule(); // the next listing watches it again if it still exists
        });
        watchers.set(target, watcher);
        added = true;
      } catch (error) {
        problems.push(atFile(target, describeWatchError(error)));
      }
    }
    return { added, problems };
  };

  /** Directories to watch for a listing: a missing root or firmware directory is awaited in its parent. */
  const wantedFor = (listing: Listing): Set<string> => {
    const wanted = new Set(listing.directories);
    if (listing.directories.length === 0) wanted.add(path.dirname(root));
    if (firmwareDir) wanted.add(isDirectory(firmwareDir) ? firmwareDir : path.dirname(firmwareDir));
    return wanted;
  };

  // Watch before reading, and list again when a directory was newly watched: a file created in a
  // new directory before its watch existed is then found by the second listing.
  const listAndWatch = async (): Promise<{ listing: Listing; watchProblems: Problem[] }> => {
    let listing = await listManifestFiles(root, options.maxEntries);
    let synced = syncWatches(wantedFor(listing));
    if (synced.added && !closed) {
      listing = await listManifestFiles(root, options.maxEntries);
      synced = syncWatches(wantedFor(listing));
    }
    return { listing, watchProblems: synced.problems };
  };

  const loadOnce = async (): Promise<void> => {
    const { listing, watchProblems } = await listAndWatch();
    if (closed) return;
    const loaded = await loadListedManifests(root, listing, { ...options, previous: lastValid });
    if (closed) return;
    const result: LoadResult = { ...loaded, warnings: [...loaded.warnings, ...watchProblems] };
    if (result.ok) lastValid = result.state; // same generation: fresher git metadata, no report
    const key = reportKey(result);
    if (key === lastReport) return;
    lastReport = key;
    onChange(result);
  };

  // one load at a time; events during a load cause exactly one more
  const reload = (): Promise<void> => {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        await loadOnce().catch(() => undefined);
      } while (again && !closed);
      loading = undefined;
    })();
    return loading;
  };

  const ready = reload();

  return {
    ready,
    current: () => lastValid,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
      await loading;
    },
  };
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function describeWatchError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC')
    return 'cannot watch: the inotify watch limit is reached (raise fs.inotify.max_user_watches); changes here are picked up with the next change elsewhere';
  if (code === 'ENOENT') return 'cannot watch: directory not found; waiting for it to appear';
  return `cannot watch: ${code ?? String(error)}; changes here are picked up with the next change elsewhere`;
}
