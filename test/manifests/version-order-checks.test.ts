import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { load, problemLines, rolloutYaml, tempDir, writeFiles } from './helpers.js';

/** A Firmware per version (named fw-<n>), the `lab` group, and rollout r1 installing `target`. */
async function setWith(versions: readonly string[], target: number, extraSpec = '') {
  const root = await tempDir();
  const manifests = path.join(root, 'manifests');
  const firmware = versions
    .map(
      (version, i) =>
        `apiVersion: otactl/v1alpha1\nkind: Firmware\nmetadata:\n  name: fw-${i}\nspec:\n  version: "${version}"\n  file: fw-${i}.bin\n  sha256: "${'0'.repeat(64)}"\n`,
    )
    .join('---\n');
  await writeFiles(manifests, {
    'firmware.yaml': firmware,
    'group.yaml':
      'apiVersion: otactl/v1alpha1\nkind: DeviceGroup\nmetadata:\n  name: lab\nspec:\n  selector:\n    endpoints: [dev-1]\n',
    'r.yaml': rolloutYaml('r1', `  group: lab\n  firmware: fw-${target}\n${extraSpec}`),
  });
  return { root, manifests };
}

/** Loads r1 installing `from`, then r1 installing `to` against it: the problems of the second load. */
async function retarget(from: string, to: string, extraSpec = ''): Promise<string[]> {
  // allowDowngrade: the first load is valid whatever `from` is.
  const before = await setWith([from, to], 0, '  allowDowngrade: true\n');
  const first = await load(before.manifests);
  if (!first.ok) throw new Error(`first load must be valid: ${JSON.stringify(first.problems)}`);
  const after = await setWith([from, to], 1, extraSpec);
  return problemLines(await load(after.manifests, { previous: first.state }), after.root);
}

describe('downgrade checks in the one version order', () => {
  it('accepts a prerelease above the version before, and build metadata or a leading v of the same rank', async () => {
    expect(await retarget('1.9.0', '2.0.0-rc.1')).toEqual([]);
    expect(await retarget('2.0.0-rc.1', '2.0.0')).toEqual([]);
    expect(await retarget('1.9.0', '1.10.0')).toEqual([]);
    expect(await retarget('2.0.0', 'v2.0.0')).toEqual([]);
    expect(await retarget('2.0.0+build.4', '2.0.0+build.5')).toEqual([]);
  });

  it('refuses a target below the version before with its file:line, as the controller does', async () => {
    expect(await retarget('2.0.0', '2.0.0-rc.1')).toEqual([
      'manifests/r.yaml:7:13: downgrade from 2.0.0 to 2.0.0-rc.1 without allowDowngrade: true',
    ]);
    expect(await retarget('1.10.0', '1.9.0')).toEqual([
      'manifests/r.yaml:7:13: downgrade from 1.10.0 to 1.9.0 without allowDowngrade: true',
    ]);
    expect(await retarget('1.0.0-beta.11', '1.0.0-beta.2')).toEqual([
      'manifests/r.yaml:7:13: downgrade from 1.0.0-beta.11 to 1.0.0-beta.2 without allowDowngrade: true',
    ]);
    expect(await retarget('2.0.0', '2.0.0-rc.1', '  allowDowngrade: true\n')).toEqual([]);
  });

  it('refuses a move from a version that cannot be ordered, without allowDowngrade', async () => {
    expect(await retarget('build-17', '2.0.0')).toEqual([
      'manifests/r.yaml:7:13: 2.0.0 cannot be ordered against build-17, which this rollout installed before (not semver): set allowDowngrade: true',
    ]);
    expect(await retarget('build-17', '2.0.0', '  allowDowngrade: true\n')).toEqual([]);
  });

  it('refuses a rollout to a version that is not semver without allowDowngrade: it would move no device', async () => {
    const set = await setWith(['build-17'], 0);
    const result = await load(set.manifests);
    expect(problemLines(result, set.root)).toEqual([
      'manifests/r.yaml:7:13: Firmware "fw-0" has version "build-17", which is not semver: no device\'s version can be ordered against it, so without allowDowngrade: true no device would be updated',
    ]);
    expect(result.ok ? [] : result.problems.map((p) => p.rollout)).toEqual(['r1']);
    const allowed = await setWith(['build-17'], 0, '  allowDowngrade: true\n');
    expect((await load(allowed.manifests)).ok).toBe(true);
  });
});
