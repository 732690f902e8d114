import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { syncGitRemote } from '../../controller/manifests/git-sync.js';
import { commitAll, git } from './git-helpers.js';
import { load, manifestSet, problemLines, rolloutYaml, tempDir } from './helpers.js';

describe('git revisions of manifests', () => {
  it('records the commit that last changed each file and whether the working copy differs', async () => {
    const set = await manifestSet({ 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n') });
    await git(set.root, 'init', '-q', '-b', 'main');
    const first = await commitAll(set.root, 'Add fleet manifests');
    await writeFile(
      path.join(set.manifests, 'r.yaml'),
      rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n  priority: 1\n'),
    );
    const second = await commitAll(set.root, 'Raise priority of r1');

    const committed = await load(set.manifests, { git: true, requireCommitted: true });
    if (!committed.ok) throw new Error(JSON.stringify(committed.problems));
    expect(committed.state.git).toEqual({
      sha: second,
      commit: expect.objectContaining({ sha: second, subject: 'Raise priority of r1' }),
      dirty: false,
    });
    expect(committed.state.rollouts.get('r1')?.source.revision).toEqual({
      commit: {
        sha: second,
        author: 'Test Author',
        email: 'test@example.com',
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        subject: 'Raise priority of r1',
      },
      dirty: false,
    });
    expect(committed.state.groups.get('lab')?.source.revision?.commit?.sha).toBe(first);
    expect(committed.state.firmware.get('fw-1.0.0')?.source.revision?.commit?.subject).toBe(
      'Add fleet manifests',
    );

    await writeFile(
      path.join(set.manifests, 'r.yaml'),
      rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n  priority: 2\n'),
    );
    await writeFile(
      path.join(set.manifests, 'new.yaml'),
      rolloutYaml('r2', '  group: field\n  firmware: fw-2.0.0\n  priority: 7\n'),
    );
    const changed = await load(set.manifests, { git: true });
    if (!changed.ok) throw new Error(JSON.stringify(changed.problems));
    expect(changed.state.git).toMatchObject({ sha: second, dirty: true });
    expect(changed.state.rollouts.get('r1')?.source.revision).toMatchObject({
      commit: { sha: second },
      dirty: true,
    });
    expect(changed.state.rollouts.get('r2')?.source.revision).toEqual({ commit: undefined, dirty: true });
    expect(changed.state.groups.get('lab')?.source.revision).toMatchObject({
      commit: { sha: first },
      dirty: false,
    });

    await rm(path.join(set.manifests, 'groups.yaml'));
    await writeFile(path.join(set.manifests, 'groups2.yaml'), (await import('./helpers.js')).GROUPS_YAML);
    const refused = await load(set.manifests, { git: true, requireCommitted: true });
    expect(problemLines(refused, set.root)).toEqual([
      'manifests/groups.yaml:1:1: deleted without a commit (commit the deletion, or drop --require-committed)',
      'manifests/groups2.yaml:1:1: not committed (commit the file, or drop --require-committed)',
      'manifests/new.yaml:1:1: not committed (commit the file, or drop --require-committed)',
      'manifests/r.yaml:1:1: uncommitted changes (commit the file, or drop --require-committed)',
    ]);
  });

  it('refuses to require committed manifests outside a git work tree', async () => {
    const set = await manifestSet();
    const result = await load(set.manifests, { git: true, requireCommitted: true });
    expect(problemLines(result, set.root)).toEqual([
      'manifests:1:1: not inside a git work tree, but committed manifests are required',
    ]);
  });

  it('finds the last commit of many files with one log process', async () => {
    const set = await manifestSet();
    await git(set.root, 'init', '-q', '-b', 'main');
    const shas: string[] = [];
    for (let i = 0; i < 30; i += 1) {
      await writeFile(
        path.join(set.manifests, `g${i}.yaml`),
        `apiVersion: otactl/v1alpha1\nkind: DeviceGroup\nmetadata: { name: g${i} }\nspec: { selector: { endpoints: [e${i}] } }\n`,
      );
      shas.push(await commitAll(set.root, `group ${i}`));
    }
    const result = await load(set.manifests, { git: true });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    for (let i = 0; i < 30; i += 1) {
      expect(result.state.groups.get(`g${i}`)?.source.revision?.commit?.sha).toBe(shas[i]);
    }
  });
});

describe('syncGitRemote', () => {
  it('clones, fast-forwards to new commits, and refuses a rewritten remote', async () => {
    const root = await tempDir();
    const remote = path.join(root, 'remote.git');
    const author = path.join(root, 'author');
    const clone = path.join(root, 'clone');
    await git(root, 'init', '-q', '--bare', '-b', 'main', remote);
    await git(root, 'clone', '-q', remote, author);
    await git(author, 'checkout', '-q', '-b', 'main');
    await writeFile(path.join(author, 'a.yaml'), 'a: 1\n');
    const first = await commitAll(author, 'first');
    await git(author, 'push', '-q', 'origin', 'main');

    const sync = syncGitRemote({ url: remote, branch: 'main', dir: clone });
    try {
      expect(await sync.syncNow()).toEqual({ kind: 'cloned', head: first });
      expect(await sync.syncNow()).toEqual({ kind: 'unchanged', head: first });

      await writeFile(path.join(author, 'a.yaml'), 'a: 2\n');
      const second = await commitAll(author, 'second');
      await git(author, 'push', '-q', 'origin', 'main');
      expect(await sync.syncNow()).toEqual({ kind: 'updated', from: first, to: second });
      expect(await git(clone, 'log', '-1', '--format=%s')).toBe('second');

      await git(author, 'reset', '-q', '--hard', first);
      await writeFile(path.join(author, 'a.yaml'), 'a: 3\n');
      await commitAll(author, 'rewritten');
      await git(author, 'push', '-q', '--force', 'origin', 'main');
      expect(await sync.syncNow()).toMatchObject({ kind: 'failed', reason: 'not-fast-forward' });
      expect(await git(clone, 'rev-parse', 'HEAD')).toBe(second);
    } finally {
      await sync.close();
    }
  });

  it('syncs on its interval and reports each outcome', async () => {
    const root = await tempDir();
    const remote = path.join(root, 'remote.git');
    const author = path.join(root, 'author');
    await git(root, 'init', '-q', '--bare', '-b', 'main', remote);
    await git(root, 'clone', '-q', remote, author);
    await git(author, 'checkout', '-q', '-b', 'main');
    await writeFile(path.join(author, 'a.yaml'), 'a: 1\n');
    const head = await commitAll(author, 'first');
    await git(author, 'push', '-q', 'origin', 'main');

    const outcomes: unknown[] = [];
    let done: () => void = () => {};
    const twoSyncs = new Promise<void>((resolve) => {
      done = resolve;
    });
    const sync = syncGitRemote({
      url: remote,
      branch: 'main',
      dir: path.join(root, 'clone'),
      intervalMs: 10,
      onSync: (result) => {
        outcomes.push(result);
        if (outcomes.length === 2) done();
      },
    });
    await twoSyncs;
    await sync.close();
    expect(outcomes).toEqual([
      { kind: 'cloned', head },
      { kind: 'unchanged', head },
    ]);
  });
});
