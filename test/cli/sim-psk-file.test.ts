import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCredentialFile } from '../../controller/credentials/credential-file.js';
import { readPskFile } from '../../controller/sim/psk-file.js';
import { runOtactl } from '../helpers/run-cli.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otactl-sim-psk-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('otactl sim --write-psk-file', () => {
  it('writes a random key per simulated endpoint in the credentials file format, readable by its owner only', async () => {
    const file = join(dir, 'keys.csv');
    const result = await runOtactl(['sim', '--write-psk-file', file, '--count', '3', '--prefix', 'dev-']);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/otactl credentials import/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const parsed = parseCredentialFile(await readFile(file));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const credentials = parsed.entries.map((e) => e.credential);
    expect(credentials.map((c) => c.endpoint)).toEqual(['dev-000001', 'dev-000002', 'dev-000003']);
    expect(credentials.map((c) => c.identity)).toEqual(['dev-000001', 'dev-000002', 'dev-000003']);
    const keys = credentials.map((c) => c.key.bytes().toString('hex'));
    expect(new Set(keys).size).toBe(3);
    expect(keys.every((k) => k.length === 32)).toBe(true);
    const read = await readPskFile(file);
    expect(read.ok && [...read.psk.keys()]).toEqual(['dev-000001', 'dev-000002', 'dev-000003']);
  });

  it('refuses to overwrite a file', async () => {
    const file = join(dir, 'keys.csv');
    expect((await runOtactl(['sim', '--write-psk-file', file, '--count', '1'])).code).toBe(0);
    const again = await runOtactl(['sim', '--write-psk-file', file, '--count', '1']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/cannot write/);
  });
});
