import { writeFile } from 'node:fs/promises';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { runMain } from '../helpers/run-main.js';
import { commitAll, git } from './git-helpers.js';
import { manifestSet, rolloutYaml } from './helpers.js';

const runValidate = (args: string[]) => runMain(['validate', ...args]);

const rel = (file: string) => path.relative(process.cwd(), file);
const pinned = (firmware: string, extra = '') =>
  rolloutYaml('r1', `  group: lab\n  firmware: ${firmware}\n${extra}`);

describe('otactl validate against a git revision', () => {
  it('refuses a downgrade against HEAD with file:line, as the running controller would', async () => {
    const set = await manifestSet({ 'r.yaml': pinned('fw-2.0.0') });
    await git(set.root, 'init', '-q', '-b', 'main');
    await commitAll(set.root, 'Pin r1 to 2.0.0');
    const file = path.join(set.manifests, 'r.yaml');
    await writeFile(file, pinned('fw-1.0.0'));

    const refused = await runValidate([set.manifests, '--firmware-dir', set.firmware]);
    expect(refused.code).toBe(1);
    expect(refused.stdout.split('\n')[0]).toBe(
      `${rel(file)}:7:13: downgrade from 2.0.0 to 1.0.0 without allowDowngrade: true`,
    );

    await writeFile(file, pinned('fw-1.0.0', '  allowDowngrade: true\n'));
    expect((await runValidate([set.manifests, '--firmware-dir', set.firmware])).code).toBe(0);
  });

  it('compares with the revision given by --against once the downgrade is committed', async () => {
    const set = await manifestSet({ 'r.yaml': pinned('fw-2.0.0') });
    await git(set.root, 'init', '-q', '-b', 'main');
    await commitAll(set.root, 'Pin r1 to 2.0.0');
    await writeFile(path.join(set.manifests, 'r.yaml'), pinned('fw-1.0.0'));
    await commitAll(set.root, 'Roll r1 back');

    // HEAD holds the downgrade itself: nothing to compare with.
    expect((await runValidate([set.manifests, '--firmware-dir', set.firmware])).code).toBe(0);
    const against = await runValidate([set.manifests, '--firmware-dir', set.firmware, '--against', 'HEAD~1']);
    expect(against.code).toBe(1);
    expect(against.stdout).toContain(':7:13: downgrade from 2.0.0 to 1.0.0 without allowDowngrade: true');

    // A revision that does not exist is a bad flag value: one line, exit 2.
    const unknown = await runValidate([set.manifests, '--against', 'no-such-branch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe('otactl: --against no-such-branch: no such commit\n');
  });
});
