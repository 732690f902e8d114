import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type OpenDatabase, openDatabase } from '../../controller/store/index.js';
import { migratorOf, TEST_DATABASE_URL } from '../helpers/databases.js';
import { runMain } from '../helpers/run-main.js';

/**
 * status, plan and history only read: pointed at a database without otactl's tables (the wrong
 * DATABASE_URL) or one an older otactl left, they refuse and change nothing; migrating is for
 * `otactl run` and `otactl migrate`.
 */
const READERS: readonly { name: string; args: (db: string) => string[] }[] = [
  { name: 'status', args: (db) => ['status', '--db', db] },
  { name: 'plan', args: (db) => ['plan', '--manifests', 'examples', '--db', db] },
  { name: 'history', args: (db) => ['history', 'dev-1', '--db', db] },
];

async function appliedMigrations(store: OpenDatabase): Promise<string[]> {
  const migrations = await migratorOf(store).getMigrations();
  return migrations.filter((m) => m.executedAt !== undefined).map((m) => m.name);
}

describe('read-only commands on an embedded database', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'otactl-read-only-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(READERS)('$name refuses one without otactl tables and creates none', async ({ args }) => {
    const dataDir = join(dir, 'db');
    await (await openDatabase({ kind: 'pglite', dataDir }, { migrate: false })).close();
    const result = await runMain(args(dataDir));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `otactl: embedded database at ${dataDir} holds no otactl data (otactl run or otactl migrate sets it up); check --db or DATABASE_URL\n`,
    );
    const store = await openDatabase({ kind: 'pglite', dataDir }, { migrate: false });
    try {
      expect(await appliedMigrations(store)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it.each(READERS)(
    '$name refuses one an older otactl migrated, and leaves it as it was',
    async ({ args }) => {
      const dataDir = join(dir, 'db');
      const older = await openDatabase({ kind: 'pglite', dataDir }, { migrate: false });
      const migrated = await migratorOf(older).migrateTo('0026-device-commands');
      await older.close();
      if (migrated.error) throw migrated.error;

      const result = await runMain(args(dataDir));
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `otactl: embedded database at ${dataDir} lacks this otactl's migration 0027-error-code-followed and 1 more: run otactl migrate first (this command only reads)\n`,
      );
      const store = await openDatabase({ kind: 'pglite', dataDir }, { migrate: false });
      try {
        expect((await appliedMigrations(store)).at(-1)).toBe('0026-device-commands');
      } finally {
        await store.close();
      }
    },
  );

  it('status reads a migrated one, and migrate then makes an older one readable', async () => {
    const dataDir = join(dir, 'db');
    const older = await openDatabase({ kind: 'pglite', dataDir }, { migrate: false });
    const migrated = await migratorOf(older).migrateTo('0027-error-code-followed');
    await older.close();
    if (migrated.error) throw migrated.error;

    expect((await runMain(['status', '--db', dataDir])).code).toBe(1);
    const migrate = await runMain(['migrate', '--db', dataDir]);
    expect(migrate.stdout).toBe(`embedded database at ${dataDir}: applied 0028-hot-transitions\n`);
    const status = await runMain(['status', '--db', dataDir]);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
  });
});

describe.runIf(TEST_DATABASE_URL)('read-only commands on Postgres', () => {
  let admin: pg.Client;
  let url: string;
  let name: string;
  beforeEach(async () => {
    name = `otactl_read_only_${randomBytes(4).toString('hex')}`;
    admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const parsed = new URL(TEST_DATABASE_URL as string);
    parsed.pathname = `/${name}`;
    url = parsed.toString();
  });
  afterEach(async () => {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  });

  it.each(READERS)(
    '$name, given the URL of a database without otactl, creates no table in it',
    async ({ args }) => {
      const result = await runMain(args(url));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^otactl: Postgres at postgres:\/\/.* holds no otactl data .*DATABASE_URL\n$/,
      );
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        const tables = await other.query(
          `select count(*)::int as n from information_schema.tables where table_schema = 'public'`,
        );
        expect(tables.rows[0].n).toBe(0);
      } finally {
        await other.end();
      }
    },
  );
});
