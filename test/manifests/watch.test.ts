import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import type { LoadResult } from '../../controller/manifests/load-desired-state.js';
import { type ManifestWatcher, watchManifests } from '../../controller/manifests/watch.js';
import { manifestSet, rolloutYaml } from './helpers.js';

/** Results in arrival order; `next()` waits for the next one. */
function resultQueue() {
  const results: LoadResult[] = [];
  const waiters: ((r: LoadResult) => void)[] = [];
  return {
    push(result: LoadResult) {
      const waiter = waiters.shift();
      if (waiter) waiter(result);
      else results.push(result);
    },
    next(): Promise<LoadResult> {
      const ready = results.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

const priority = (p: number) => rolloutYaml('r1', `  group: lab\n  firmware: fw-2.0.0\n  priority: ${p}\n`);

let watcher: ManifestWatcher | undefined;
afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
});

describe('watchManifests', () => {
  it('follows edits, keeps the last valid state while broken, and picks up atomic saves and deletions', async () => {
    const set = await manifestSet({ 'r.yaml': priority(0) });
    const file = path.join(set.manifests, 'r.yaml');
    const queue = resultQueue();
    watcher = watchManifests(
      set.manifests,
      { firmwareDir: set.firmware, git: false, debounceMs: 50 },
      queue.push,
    );
    await watcher.ready;

    const initial = await queue.next();
    if (!initial.ok) throw new Error('initial set must be valid');
    expect(watcher.current()?.rollouts.get('r1')?.priority).toBe(0);

    await writeFile(file, priority(1));
    const edited = await queue.next();
    expect(edited.ok && edited.state.rollouts.get('r1')?.priority).toBe(1);
    expect(edited.ok && edited.state.generation).not.toBe(initial.state.generation);
    const validGeneration = watcher.current()?.generation;

    await writeFile(file, `${priority(2).slice(0, 60)}\n  : [`); // half-written
    const broken = await queue.next();
    expect(broken.ok).toBe(false);
    expect(watcher.current()?.generation).toBe(validGeneration);
    expect(watcher.current()?.rollouts.get('r1')?.priority).toBe(1);

    await writeFile(file, priority(2));
    const fixed = await queue.next();
    expect(fixed.ok && fixed.state.rollouts.get('r1')?.priority).toBe(2);
    expect(watcher.current()?.rollouts.get('r1')?.priority).toBe(2);

    // an editor's atomic save: write a temporary file, rename it over the original
    const temp = path.join(set.manifests, '.r.yaml.swp');
    await writeFile(temp, priority(3));
    await rename(temp, file);
    const saved = await queue.next();
    expect(saved.ok && saved.state.rollouts.get('r1')?.priority).toBe(3);

    // the same content again is no new generation: the next report is the next real change
    await writeFile(file, priority(3));
    await writeFile(
      path.join(set.manifests, 'r2.yaml'),
      rolloutYaml('r2', '  group: field\n  firmware: fw-2.0.0\n  priority: 9\n'),
    );
    const added = await queue.next();
    expect(added.ok && [...added.state.rollouts.keys()]).toEqual(['r1', 'r2']);

    await rm(file);
    const deleted = await queue.next();
    expect(deleted.ok && [...deleted.state.rollouts.keys()]).toEqual(['r2']);
    expect([...(watcher.current()?.rollouts.keys() ?? [])]).toEqual(['r2']);
  });

  it('starts without a current state when the initial set is invalid, and adopts the first valid one', async () => {
    const set = await manifestSet({ 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-9\n') });
    const queue = resultQueue();
    watcher = watchManifests(
      set.manifests,
      { firmwareDir: set.firmware, git: false, debounceMs: 20 },
      queue.push,
    );
    await watcher.ready;
    expect((await queue.next()).ok).toBe(false);
    expect(watcher.current()).toBeUndefined();

    await writeFile(path.join(set.manifests, 'r.yaml'), priority(0));
    expect((await queue.next()).ok).toBe(true);
    expect(watcher.current()?.rollouts.has('r1')).toBe(true);
  });

  it('reloads when a missing firmware file appears in the firmware directory', async () => {
    const set = await manifestSet({ 'r.yaml': priority(0) });
    await rm(path.join(set.firmware, 'fw-2.0.0.bin'));
    const queue = resultQueue();
    watcher = watchManifests(
      set.manifests,
      { firmwareDir: set.firmware, git: false, debounceMs: 20 },
      queue.push,
    );
    await watcher.ready;
    expect((await queue.next()).ok).toBe(false);
    await writeFile(path.join(set.firmware, 'fw-2.0.0.bin'), 'image two\n');
    expect((await queue.next()).ok).toBe(true);
  });
});
