import path from 'node:path';

import { watch } from 'chokidar';

import type { DesiredState } from './desired-state.js';
import { type LoadOptions, type LoadResult, loadDesiredState } from './load-desired-state.js';

export interface WatchOptions extends Omit<LoadOptions, 'previous'> {
  /** Quiet time after the last file event before reloading (default 200 ms). */
  readonly debounceMs?: number;
}

export interface ManifestWatcher {
  /** Resolves once the initial load has been reported and the file watcher is running. */
  readonly ready: Promise<void>;
  /** The last valid desired state; an invalid change never replaces it. */
  current(): DesiredState | undefined;
  close(): Promise<void>;
}

/**
 * Watches the manifests (and the firmware directory, when given) and reloads the whole set
 * after each burst of changes. `onChange` hears a valid result when a new generation appears
 * or the set becomes valid again after being invalid, and an invalid result when the problems
 * change. An atomic save (write to a temporary file, rename over) or a half-written file is
 * just another event: a failed load keeps the last valid state and the next event reloads.
 */
export function watchManifests(
  dir: string,
  options: WatchOptions,
  onChange: (result: LoadResult) => void,
): ManifestWatcher {
  const roots = [path.resolve(dir), ...(options.firmwareDir ? [path.resolve(options.firmwareDir)] : [])];
  const debounceMs = options.debounceMs ?? 200;
  let lastValid: DesiredState | undefined;
  let lastReport: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let loading: Promise<void> | undefined;
  let again = false;
  let closed = false;

  const reportKey = (result: LoadResult) =>
    result.ok ? `valid:${result.state.generation}` : `invalid:${JSON.stringify(result.problems)}`;

  const loadOnce = async (): Promise<void> => {
    const result = await loadDesiredState(dir, { ...options, previous: lastValid });
    if (closed) return;
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

  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), debounceMs);
  };

  const watcher = watch(roots, {
    ignoreInitial: true,
    ignored: (file: string) => isHidden(roots, file),
  });
  watcher.on('all', schedule);
  watcher.on('error', schedule);

  const watcherReady = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  const ready = Promise.all([reload(), watcherReady]).then(() => undefined);

  return {
    ready,
    current: () => lastValid,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await watcher.close();
      await loading;
    },
  };
}

/** Dot files and directories (.git, editor swap and temp files) below a watched root. */
function isHidden(roots: readonly string[], file: string): boolean {
  for (const root of roots) {
    const relative = path.relative(root, file);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) continue;
    return relative.split(path.sep).some((part) => part.startsWith('.'));
  }
  return false;
}
