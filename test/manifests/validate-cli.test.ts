import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { runMain } from '../helpers/run-main.js';
import { manifestSet, rolloutYaml } from './helpers.js';

const REPO = path.resolve(import.meta.dirname, '../..');

const runValidate = (args: string[]) => runMain(['validate', ...args]);

const rel = (file: string) => path.relative(process.cwd(), file);

describe('otactl validate', () => {
  it('prints every problem as path:line:col: message and a summary, and exits 1', async () => {
    const set = await manifestSet({
      'a.yaml': rolloutYaml('r1', '  group: nope\n  firmware: fw-2.0.0\n'),
      'b.yaml': rolloutYaml('r2', '  group: lab\n  firmware: fw-2.0.0\n  suspend: maybe\n'),
    });
    const { code, stdout } = await runValidate([set.manifests, '--firmware-dir', set.firmware]);
    expect(code).toBe(1);
    expect(stdout.trimEnd().split('\n')).toEqual([
      `${rel(path.join(set.manifests, 'a.yaml'))}:6:10: DeviceGroup "nope" not found`,
      `${rel(path.join(set.manifests, 'b.yaml'))}:8:12: spec.suspend: must be boolean`,
      `${rel(set.manifests)}: invalid: 2 problems`,
    ]);
  });

  it('names another manifest as it names every file: relative to the working directory', async () => {
    const set = await manifestSet({
      'more.yaml':
        'apiVersion: otactl/v1alpha1\nkind: DeviceGroup\nmetadata:\n  name: lab\nspec:\n  selector: { endpoints: [x] }\n',
    });
    const { code, stdout } = await runValidate([set.manifests, '--firmware-dir', set.firmware]);
    expect(code).toBe(1);
    expect(stdout.split('\n')[0]).toBe(
      `${rel(path.join(set.manifests, 'more.yaml'))}:4:9: duplicate DeviceGroup "lab" (first defined at ${rel(path.join(set.manifests, 'groups.yaml'))}:4:9)`,
    );
  });

  it('exits 0 with a summary when the manifests are valid', async () => {
    const set = await manifestSet({ 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n') });
    const { code, stdout } = await runValidate([set.manifests, '--firmware-dir', set.firmware]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/: valid: 2 firmware, 2 groups, 1 rollout \(generation [0-9a-f]{12}\)\n$/);
  });

  it('prints a JSON array with --json', async () => {
    const set = await manifestSet({ 'a.yaml': rolloutYaml('r1', '  group: lab\n  firmware: nope\n') });
    const { code, stdout } = await runValidate([set.manifests, '--firmware-dir', set.firmware, '--json']);
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual([
      {
        path: rel(path.join(set.manifests, 'a.yaml')),
        line: 7,
        col: 13,
        message: 'Firmware "nope" not found',
        severity: 'error',
      },
    ]);
  });

  it('reports a missing manifests directory', async () => {
    const set = await manifestSet();
    const { code, stdout } = await runValidate([path.join(set.root, 'absent')]);
    expect(code).toBe(1);
    expect(stdout).toContain('absent:1:1: cannot read manifests directory: ENOENT');
  });

  it('says once that the firmware directory is missing, naming --firmware-dir, not once per file', async () => {
    const set = await manifestSet({ 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n') });
    const absent = path.join(set.root, 'firmware-absent');
    const missing = await runValidate([set.manifests, '--firmware-dir', absent]);
    expect(missing.code).toBe(1);
    expect(missing.stdout.trimEnd().split('\n')).toEqual([
      `${rel(absent)}:1:1: firmware directory not found: the files of 2 Firmware manifests are looked for there (give the directory with --firmware-dir)`,
      `${rel(set.manifests)}: invalid: 1 problem`,
    ]);
    const file = path.join(set.manifests, 'r.yaml');
    const notDir = await runValidate([set.manifests, '--firmware-dir', file]);
    expect(notDir.stdout).toContain(
      `${rel(file)}:1:1: firmware directory is not a directory: the files of 2 Firmware manifests are looked for there`,
    );
  });

  it('given a manifest file instead of the directory (as pre-commit hooks pass), says so in one line and exits 1', async () => {
    const set = await manifestSet({ 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n') });
    const file = path.join(set.manifests, 'r.yaml');
    const { code, stdout, stderr } = await runValidate([file, '--firmware-dir', set.firmware]);
    expect(stderr).toBe('');
    expect(code).toBe(1);
    expect(stdout).toBe(
      [
        `${rel(file)}:1:1: not a directory: give the manifests directory (Rollouts name groups and firmware in other files)`,
        `${rel(file)}: invalid: 1 problem`,
        '',
      ].join('\n'),
    );
  });

  it('validates examples/ and rollouts/ against examples/firmware', async () => {
    for (const dir of ['examples', 'rollouts']) {
      const { code, stdout } = await runValidate([
        path.join(REPO, dir),
        '--firmware-dir',
        path.join(REPO, 'examples/firmware'),
      ]);
      expect({ dir, code, stdout }).toMatchObject({ dir, code: 0 });
      expect(stdout).toContain(': valid: ');
    }
  });

  it('has a yaml-language-server schema line in every example manifest', async () => {
    for (const dir of ['examples', 'rollouts']) {
      for (const file of (await readdir(path.join(REPO, dir))).filter((f) => f.endsWith('.yaml'))) {
        const text = await readFile(path.join(REPO, dir, file), 'utf8');
        expect(text, file).toMatch(
          /^# yaml-language-server: \$schema=\.\.\/schemas\/[a-z-]+\.schema\.json$/m,
        );
      }
    }
  });
});
