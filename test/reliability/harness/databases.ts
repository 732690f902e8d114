import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type OpenDatabase, openDatabase } from '../../../controller/store/index.js';
import { seedPgliteDataDir, TEST_DATABASE_URL } from '../../helpers/databases.js';

/** A database a controller child process owns: a PGlite directory or a fresh Postgres database. */
export interface ProcessDatabase {
  readonly kind: 'pglite' | 'postgres';
  /** What `otactl run --db` gets. */
  readonly spec: string;
  /**
   * Opens the database in this process. Postgres: any time (a second connection pool). PGlite:
   * only while no controller runs (the data directory belongs to one process).
   */
  open(): Promise<OpenDatabase>;
  /** Postgres only: a plain client on the same database (checks while the controller runs). */
  client(): Promise<pg.Client>;
  drop(): Promise<void>;
}

export async function pgliteProcessDatabase(): Promise<ProcessDatabase> {
  const dir = await mkdtemp(join(tmpdir(), 'otactl-reliability-db-'));
  const dataDir = join(dir, 'db');
  await seedPgliteDataDir(dataDir);
  return {
    kind: 'pglite',
    spec: dataDir,
    open: () => openDatabase({ kind: 'pglite', dataDir }),
    client: () => Promise.reject(new Error('PGlite has no second connection')),
    drop: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A new database on the test server (a database, not a schema: `otactl run` takes a plain URL). */
export async function postgresProcessDatabase(): Promise<ProcessDatabase> {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set');
  const name = `otactl_rel_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const spec = url.toString();
  return {
    kind: 'postgres',
    spec,
    open: () => openDatabase({ kind: 'postgres', url: spec }, { poolSize: 2 }),
    client: async () => {
      const client = new pg.Client({ connectionString: spec });
      client.on('error', () => {});
      await client.connect();
      return client;
    },
    drop: async () => {
      const cleanup = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

/** Connections of other clients on the database `client` is connected to, terminated; returns how many. */
export async function terminateOtherBackends(client: pg.Client): Promise<number> {
  const result = await client.query<{ terminated: boolean }>(
    `select pg_terminate_backend(pid) as terminated from pg_stat_activity
     where datname = current_database() and pid <> pg_backend_pid()`,
  );
  return result.rows.filter((r) => r.terminated).length;
}
