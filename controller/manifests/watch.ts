import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';

import { watch } from 'chokidar';

import type { DesiredState } from './desired-state.js';
import { type LoadOptions, type LoadResult, loadListedManifests } from './load-desired-state.js';
import { atFile, type Listing, listManifestFiles } from './load-files.js';
import type { Problem } from './problem.js';
import type { PreviousTargets } from './semantic-checks.js';

export interface WatchOptions extends Omit<LoadOptions, 'previous'> {
  /** Quiet time after the last file event before reloading (default 200 ms). */
  readonly debounceMs?: number;
  /**
   * What each rollout installed before this watcher's first valid load (e.g. what the controller
   * applied before a restart): downgrades are refused against it until then.
   */
  readonly baseline?: PreviousTargets;
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
 * What is watched is what the loader walked: one chokidar watcher holds exactly the directories
 * of the listing, each at depth 0 (its direct entries), plus the firmware directory itself
 * (firmware files are named without sub-directories). Symbolic links to directories are followed
 * by neither, and the walk's entry cap bounds both.
 */
export function watchManifests(
  dir: string,
  options: WatchOptions,
  onChange: (result: LoadResult) => void,
): ManifestWatcher {
  const root = path.resolve(dir);
  const firmwareDir = options.firmwareDir ? path.resolve(options.firmwareDir) : undefined;
  const debounceMs = options.debounceMs ?? 200;
  /** The directories handed to chokidar, kept equal to the wanted set by `syncWatches`. */
  const watched = new Set<string>();
  /** Directories chokidar could not watch, reported as warnings until a change is seen in them. */
  const watchErrors = new Map<string, Problem>();
  let lastValid: DesiredState | undefined;
  let lastReport: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let loading: Promise<void> | undefined;
  let again = false;
  let closed = false;

  // The commit is part of the key: a new commit is a new attempt (the controller's manifests status
  // names it), even when the content, or the problems, stayed the same.
  const reportKey = (result: LoadResult) =>
    result.ok
      ? `valid:${result.state.generation}:${JSON.stringify(result.state.git)}:${JSON.stringify(result.warnings)}`
      : `invalid:${JSON.stringify(result.git)}:${JSON.stringify(result.problems)}`;

  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), debounceMs);
  };

  // Dot entries are not manifests (editor swap files, .git), but Kubernetes swaps a mounted
  // ConfigMap by renaming its `..data` link: names starting with '..' count. A watched directory
  // itself is never ignored, whatever its name.
  const ignored = (file: string) => {
    const base = path.basename(file);
    return base.startsWith('.') && !base.startsWith('..') && !watched.has(file);
  };
  // depth 0: a directory added is read and watched, its sub-directories are not (the listing adds
  // those it walked); followSymlinks false: a link inside is an entry, never a directory to enter.
  const watcher = watch([], { followSymlinks: false, depth: 0, ignoreInitial: true, ignored });
  watcher.on('all', (_event, file) => {
    // a change seen in a directory proves it is watched now
    watchErrors.delete(path.dirname(file));
    schedule();
  });
  // `unwatch` leaves chokidar ignoring that path until it is added again, so a directory dropped
  // from the listing and later created again gets no 'addDir': its parent's raw event still
  // brings the listing that adds it.
  watcher.on('raw', (_event, name) => {
    if (!ignored(path.basename(String(name ?? '')))) schedule();
  });
  watcher.on('error', (error) => {
    // chokidar also watches each file of a directory: a file's error is reported at its directory
    const failed = (error as NodeJS.ErrnoException).path ?? root;
    const dir = watched.has(failed) ? failed : path.dirname(failed);
    watched.delete(dir); // the next listing adds it again if it is still wanted
    if (watchErrors.has(dir)) return; // already reported: no reload loop while it keeps failing
    watchErrors.set(dir, atFile(dir, describeWatchError(error)));
    schedule();
  });

  /** Watches exactly `wanted`; returns whether a directory was added. */
  const syncWatches = (wanted: ReadonlySet<string>): boolean => {
    const gone = [...watched].filter((dir) => !wanted.has(dir));
    for (const dir of gone) watched.delete(dir);
    if (gone.length > 0) watcher.unwatch(gone);
    for (const dir of watchErrors.keys()) if (!wanted.has(dir)) watchErrors.delete(dir);
    const added = [...wanted].filter((dir) => !watched.has(dir));
    for (const dir of added) watched.add(dir);
    if (added.length > 0) watcher.add(added);
    return added.length > 0;
  };

  /** Directories to watch for a listing: a missing root or firmware directory is awaited in its parent. */
  const wantedFor = (listing: Listing): Set<string> => {
    // chokidar does not follow a link it is given: the root and the firmware directory are
    // watched at their real paths (the walk's sub-directories are real directories)
    const wanted = new Set(listing.directories.map((dir) => (dir === root ? realDirectory(dir) : dir)));
    if (listing.directories.length === 0) wanted.add(realDirectory(path.dirname(root)));
    if (firmwareDir)
      wanted.add(realDirectory(isDirectory(firmwareDir) ? firmwareDir : path.dirname(firmwareDir)));
    return wanted;
  };

  // Watch before reading, and list again when a directory was newly watched: a file created in a
  // new directory before its watch existed is then found by the second listing.
  const listAndWatch = async (): Promise<Listing> => {
    let listing = await listManifestFiles(root, options.maxEntries);
    if (syncWatches(wantedFor(listing)) && !closed) {
      listing = await listManifestFiles(root, options.maxEntries);
      syncWatches(wantedFor(listing));
    }
    return listing;
  };

  const loadOnce = async (): Promise<void> => {
    const listing = await listAndWatch();
    if (closed) return;
    const loaded = await loadListedManifests(root, listing, {
      ...options,
      previous: lastValid ?? options.baseline,
    });
    if (closed) return;
    const result: LoadResult = { ...loaded, warnings: [...loaded.warnings, ...watchErrors.values()] };
    if (result.ok) lastValid = result.state;
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
      await watcher.close();
      watched.clear();
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

function realDirectory(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

function describeWatchError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC')
    return 'cannot watch: the inotify watch limit is reached (raise fs.inotify.max_user_watches); changes here are picked up with the next change elsewhere';
  if (code === 'ENOENT') return 'cannot watch: directory not found; waiting for it to appear';
  return `cannot watch: ${code ?? String(error)}; changes here are picked up with the next change elsewhere`;
}
