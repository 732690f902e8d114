import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import type { LoadResult } from '../../controller/manifests/load-desired-state.js';
import { formatProblem } from '../../controller/manifests/problem.js';
import { load, manifestSet, problemLines, rolloutYaml, tempDir, writeFiles } from './helpers.js';

const rollout = (name: string) => rolloutYaml(name, '  group: lab\n  firmware: fw-2.0.0\n');

function warningLines(result: LoadResult, base: string): string[] {
  return result.warnings.map((p) => formatProblem(p, (file) => path.relative(base, file)));
}

/** A directory outside the manifests with many manifests in it, each a conflict if it were read. */
async function bigOutsideDir(files = 200): Promise<string> {
  const outside = await tempDir('otactl-outside-');
  const content: Record<string, string> = {};
  for (let i = 0; i < files; i++) content[`d${i % 10}/r${i}.yaml`] = rollout('r1');
  await writeFiles(outside, content);
  return outside;
}

describe('symbolic links in the manifests directory', () => {
  it('follows no link to a directory (a loop, the parent, a big tree elsewhere) and warns about each', async () => {
    const set = await manifestSet({ 'r.yaml': rollout('r1') });
    const outside = await bigOutsideDir();
    await symlink('.', path.join(set.manifests, 'loop'));
    await symlink('..', path.join(set.manifests, 'up'));
    await symlink(outside, path.join(set.manifests, 'vendor'));

    const result = await load(set.manifests, { firmwareDir: set.firmware });
    expect(problemLines(result, set.root)).toEqual([]);
    expect(result.ok && [...result.state.rollouts.keys()]).toEqual(['r1']);
    const notFollowed = 'is not followed; manifests are read from real directories only';
    expect(warningLines(result, set.root)).toEqual([
      `manifests/loop:1:1: symbolic link to a directory (${set.manifests}) ${notFollowed}`,
      `manifests/up:1:1: symbolic link to a directory (${set.root}) ${notFollowed}`,
      `manifests/vendor:1:1: symbolic link to a directory (${outside}) ${notFollowed}`,
    ]);
  });

  it('reads no file outside the directory through a link, and says which link', async () => {
    const set = await manifestSet({ 'r.yaml': rollout('r1') });
    const outside = await tempDir('otactl-outside-');
    await writeFiles(outside, { 'other.yaml': rollout('r2') });
    await symlink('/etc/passwd', path.join(set.manifests, 'passwd.yaml'));
    await symlink(path.join(outside, 'other.yaml'), path.join(set.manifests, 'other.yaml'));

    const result = await load(set.manifests, { firmwareDir: set.firmware });
    const outsideOf = `outside the manifests directory ${set.manifests}; no file outside it is read: copy the file in or link within the directory`;
    expect(problemLines(result, set.root)).toEqual([
      `manifests/other.yaml:1:1: symbolic link to ${path.join(outside, 'other.yaml')}, ${outsideOf}`,
      `manifests/passwd.yaml:1:1: symbolic link to /etc/passwd, ${outsideOf}`,
    ]);
  });

  it('reads links to files inside the directory, as in a mounted Kubernetes ConfigMap', async () => {
    const set = await manifestSet();
    await writeFiles(path.join(set.manifests, '..2026_01_01_00_00_00.1'), { 'r.yaml': rollout('r1') });
    await symlink('..2026_01_01_00_00_00.1', path.join(set.manifests, '..data'));
    await symlink('..data/r.yaml', path.join(set.manifests, 'r.yaml'));
    await symlink('missing.yaml', path.join(set.manifests, 'dangling.yaml'));

    const result = await load(set.manifests, { firmwareDir: set.firmware });
    expect(problemLines(result, set.root)).toEqual([]);
    expect(result.ok && [...result.state.rollouts.keys()]).toEqual(['r1']);
    expect(warningLines(result, set.root)).toEqual([
      'manifests/dangling.yaml:1:1: symbolic link to nothing (ENOENT); skipped',
    ]);
  });

  it('refuses more files and directories than the cap, naming the directory and the cap', async () => {
    const set = await manifestSet({ 'r.yaml': rollout('r1') });
    const many: Record<string, string> = {};
    for (let i = 0; i < 30; i++) many[`n${i}.txt`] = 'x';
    await writeFiles(path.join(set.manifests, 'sub'), many);
    await mkdir(path.join(set.manifests, 'empty'));

    const result = await load(set.manifests, { firmwareDir: set.firmware, maxEntries: 20 });
    expect(problemLines(result, set.root)).toEqual([
      `manifests/sub:1:1: more than 20 files and directories under the manifests directory ${set.manifests}; it is not read or watched past that limit: keep only manifests there (or point --manifests at a subdirectory)`,
    ]);
    // 5 entries at the top (3 files, 2 directories) and 30 in sub: 35 fit a cap of 35
    expect((await load(set.manifests, { firmwareDir: set.firmware, maxEntries: 35 })).ok).toBe(true);
  });
});
