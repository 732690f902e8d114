import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../controller/store/index.js';
import { runOtactl } from '../helpers/run-cli.js';
import { closedPort } from './support/fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otactl-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function expectOneClearLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('otactl migrate', () => {
  it('migrates an embedded database directory, then reports it up to date', async () => {
    const db = join(dir, 'db');
    const first = await runOtactl(['migrate', '--db', db]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied 0001-initial/);
    const second = await runOtactl(['migrate', '--db', db]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/already up to date/);
  });

  it('takes DATABASE_URL when --db is not given', async () => {
    const port = await closedPort();
    const result = await runOtactl(['migrate'], {
      env: { DATABASE_URL: `postgres://u:secret@127.0.0.1:${port}/x` },
    });
    expect(result.code).toBe(1);
    expectOneClearLine(
      result.stderr,
      new RegExp(`cannot connect to Postgres at postgres://u:\\*\\*\\*@127.0.0.1:${port}/x.*ECONNREFUSED`),
    );
    expect(result.stderr).not.toContain('secret');
  });

  it('names a database URL it does not support', async () => {
    const result = await runOtactl(['migrate', '--db', 'mysql://localhost/x']);
    expect(result.code).toBe(1);
    expectOneClearLine(result.stderr, /unsupported database "mysql:\/\/localhost\/x"/);
  });

  it('refuses a data directory that another otactl is using', async () => {
    const db = join(dir, 'db');
    const holder = await openDatabase({ kind: 'pglite', dataDir: db });
    try {
      // The holder is this test process; a second otactl process must be refused.
      const result = await runOtactl(['migrate', '--db', db]);
      expect(result.code).toBe(1);
      expectOneClearLine(result.stderr, new RegExp(`is in use by another otactl \\(pid ${process.pid}\\)`));
    } finally {
      await holder.close();
    }
  });
});

describe('otactl --help', () => {
  it('lists every command of the contract', async () => {
    const result = await runOtactl(['--help']);
    expect(result.code).toBe(0);
    for (const command of [
      'run',
      'migrate',
      'validate',
      'plan',
      'status',
      'history',
      'sim',
      'firmware',
      'pki',
      'credentials',
      'demo',
    ]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
  });
});
