import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import type { LoadResult } from '../../controller/manifests/load-desired-state.js';
import { type ManifestWatcher, watchManifests } from '../../controller/manifests/watch.js';
import { manifestSet, rolloutYaml, tempDir, writeFiles } from './helpers.js';

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

  it('watches what the loader reads: links are reported, the last valid state stays, new directories are watched', async () => {
    const set = await manifestSet({ 'r.yaml': priority(0) });
    const outside = await tempDir('otactl-outside-');
    await writeFiles(outside, { 'a/x.yaml': 'x: 1\n', 'b/y.yaml': 'y: 1\n' });
    const queue = resultQueue();
    watcher = watchManifests(
      set.manifests,
      { firmwareDir: set.firmware, git: false, debounceMs: 20, maxEntries: 20 },
      queue.push,
    );
    await watcher.ready;
    const initial = await queue.next();
    expect(initial.ok).toBe(true);

    // links to directories: same state, reported with a warning each
    await symlink('.', path.join(set.manifests, 'loop'));
    await symlink('..', path.join(set.manifests, 'up'));
    await symlink(outside, path.join(set.manifests, 'vendor'));
    let warned = await queue.next();
    while (warned.ok && warned.warnings.length < 3) warned = await queue.next();
    expect(warned.ok && warned.state.generation).toBe(initial.ok && initial.state.generation);
    expect(warned.warnings.map((w) => path.basename(w.file))).toEqual(['loop', 'up', 'vendor']);

    // a link to a file outside: invalid, the last valid state stays
    await symlink('/etc/passwd', path.join(set.manifests, 'passwd.yaml'));
    const refused = await queue.next();
    expect(!refused.ok && refused.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/^symbolic link to \/etc\/passwd, outside the manifests directory/),
    ]);
    expect(watcher.current()?.rollouts.get('r1')?.priority).toBe(0);
    await rm(path.join(set.manifests, 'passwd.yaml'));
    expect((await queue.next()).ok).toBe(true);

    // a new directory and a file in it, written at once: both seen
    await mkdir(path.join(set.manifests, 'more'));
    await writeFile(
      path.join(set.manifests, 'more', 'r2.yaml'),
      rolloutYaml('r2', '  group: field\n  firmware: fw-2.0.0\n  priority: 9\n'),
    );
    let grown = await queue.next();
    while (grown.ok && !grown.state.rollouts.has('r2')) grown = await queue.next();
    expect(grown.ok && [...grown.state.rollouts.keys()].sort()).toEqual(['r1', 'r2']);
    // a later change in the new directory is seen too
    await writeFile(
      path.join(set.manifests, 'more', 'r2.yaml'),
      rolloutYaml('r2', '  group: field\n  firmware: fw-2.0.0\n  priority: 7\n'),
    );
    const edited = await queue.next();
    expect(edited.ok && edited.state.rollouts.get('r2')?.priority).toBe(7);

    // past the cap: refused with the cap named, then valid again once it is cleared
    await writeFiles(
      path.join(set.manifests, 'junk'),
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`j${i}.txt`, 'x'])),
    );
    let capped = await queue.next();
    while (capped.ok) capped = await queue.next();
    expect(capped.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/^more than 20 files and directories/),
    ]);
    expect(watcher.current()?.rollouts.get('r2')?.priority).toBe(7);
    await rm(path.join(set.manifests, 'junk'), { recursive: true });
    expect((await queue.next()).ok).toBe(true);
  });
});
