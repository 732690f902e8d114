import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lockDataDir } from '../../controller/store/data-dir-lock.js';
import { seedPgliteDataDir } from '../helpers/databases.js';
import { runOtactl } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { closedPort } from './support/fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otactl-cli-'));
});
afterEach(async () => {
  vi.unstubAllEnvs();
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
    const first = await runMain(['migrate', '--db', db]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied 0001-initial/);
    const second = await runMain(['migrate', '--db', db]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/already up to date/);
  });

  it('takes DATABASE_URL when --db is not given', async () => {
    const port = await closedPort();
    vi.stubEnv('DATABASE_URL', `postgres://u:secret@127.0.0.1:${port}/x`);
    const result = await runMain(['migrate']);
    expect(result.code).toBe(1);
    expectOneClearLine(
      result.stderr,
      new RegExp(`cannot connect to Postgres at postgres://u:\\*\\*\\*@127.0.0.1:${port}/x.*ECONNREFUSED`),
    );
    expect(result.stderr).not.toContain('secret');
  });

  it('names a database URL it does not support', async () => {
    const result = await runMain(['migrate', '--db', 'mysql://localhost/x']);
    expect(result.code).toBe(1);
    expectOneClearLine(result.stderr, /unsupported database "mysql:\/\/localhost\/x"/);
  });

  it('refuses a data directory that another otactl is using', async () => {
    const db = join(dir, 'db');
    // The holder is this test process, holding the lock an open embedded database holds (the store
    // tests show openDatabase takes it); a second otactl process, the real executable, is refused
    // with exit status 1 before it opens anything.
    const holder = await lockDataDir(db);
    if (holder.kind !== 'locked') throw new Error(`expected to lock ${db}, got ${holder.kind}`);
    try {
      const result = await runOtactl(['migrate', '--db', db]);
      expect(result.code).toBe(1);
      expectOneClearLine(result.stderr, new RegExp(`is in use by another otactl \\(pid ${process.pid}\\)`));
    } finally {
      await holder.release();
    }
  });
});

describe('a read-only command on an embedded database a controller holds', () => {
  it('says how to read the running controller instead', async () => {
    const db = join(dir, 'db');
    await seedPgliteDataDir(db);
    const holder = await lockDataDir(db);
    if (holder.kind !== 'locked') throw new Error(`expected to lock ${db}, got ${holder.kind}`);
    try {
      const result = await runMain(['status', '--db', db]);
      expect(result.code).toBe(1);
      expectOneClearLine(
        result.stderr,
        new RegExp(
          `is in use by another otactl \\(pid ${process.pid}\\); stop it or pass another --db \\(to read a running controller: --server http://HOST:8080\\)$`,
        ),
      );
    } finally {
      await holder.release();
    }
  });
});

describe('otactl --help', () => {
  it('lists every command of the contract', async () => {
    const result = await runMain(['--help']);
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
