import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { readManifestFile } from '../../controller/manifests/load-files.js';
import { load, manifestSet, problemLines, rolloutYaml } from './helpers.js';

async function problemsFor(files: Record<string, string | Buffer>) {
  const set = await manifestSet(files as Record<string, string>);
  const result = await load(set.manifests, { firmwareDir: set.firmware });
  return problemLines(result, set.root);
}

describe('hostile manifest input gives one clear problem per file', () => {
  it('refuses a file over the size limit without parsing it', async () => {
    const big = `# ${'x'.repeat(6 * 1024 * 1024)}\n`;
    expect(await problemsFor({ 'big.yaml': big })).toEqual([
      `manifests/big.yaml:1:1: file too large (${big.length} bytes, limit 5242880); manifests are small text files`,
    ]);
  });

  it('refuses binary garbage', async () => {
    const garbage = Buffer.from([0x6b, 0x69, 0x6e, 0x64, 0x0a, 0x00, 0xff, 0xfe, 0x13]);
    expect(await problemsFor({ 'blob.yaml': garbage })).toEqual([
      'manifests/blob.yaml:2:1: binary content (NUL byte); not a YAML file',
    ]);
  });

  it('refuses invalid UTF-8', async () => {
    expect(await problemsFor({ 'latin1.yaml': Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]) })).toEqual([
      'manifests/latin1.yaml:1:1: not valid UTF-8; not a YAML file',
    ]);
  });

  it('refuses deep flow nesting', async () => {
    const deep = `spec: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`;
    expect(await problemsFor({ 'deep.yaml': deep })).toEqual([
      'manifests/deep.yaml:1:70: nesting deeper than 64 levels',
    ]);
  });

  it('refuses deep block nesting', async () => {
    const deep = Array.from({ length: 200 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
    expect(await problemsFor({ 'deep.yaml': deep })).toEqual([
      'manifests/deep.yaml:65:65: nesting deeper than 64 levels',
    ]);
  });

  it('refuses an alias expansion bomb', async () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i += 1)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const problems = await problemsFor({ 'bomb.yaml': `${lines.join('\n')}\n` });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^manifests\/bomb\.yaml:1:1: cannot read document: .*alias/i);
  });

  it('refuses duplicate keys', async () => {
    expect(
      await problemsFor({
        'dup.yaml': rolloutYaml('r1', '  group: lab\n  group: lab\n  firmware: fw-2.0.0\n'),
      }),
    ).toEqual(['manifests/dup.yaml:7:3: YAML syntax: Map keys must be unique']);
  });

  it('reports a file deleted while reading as such', async () => {
    const set = await manifestSet();
    const result = await readManifestFile(path.join(set.manifests, 'gone.yaml'));
    expect(result).toMatchObject({ kind: 'error', problem: { message: 'file disappeared while reading' } });
  });

  it('keeps checking the other files', async () => {
    const problems = await problemsFor({
      'a-blob.yaml': Buffer.from([0, 1, 2]),
      'b.yaml': rolloutYaml('r1', '  group: nope\n  firmware: fw-2.0.0\n'),
    });
    expect(problems.map((p) => p.split(': ')[0])).toEqual([
      'manifests/a-blob.yaml:1:1',
      'manifests/b.yaml:6:10',
    ]);
  });
});
