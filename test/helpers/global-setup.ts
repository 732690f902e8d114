import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../controller/store/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A dump of a freshly migrated PGlite data directory, for every test file to start from. */
    pgliteTemplate: string;
    /**
     * A file with the SQL (pg_dump) of a freshly migrated Postgres schema, every name in it
     * qualified with `postgresTemplate.schema`; undefined without TEST_DATABASE_URL or pg_dump
     * (each test's schema is then migrated on its own).
     */
    postgresTemplate: { readonly file: string; readonly schema: string } | undefined;
  }
}

/**
 * Migrating a PGlite database costs seconds of CPU; doing it once per run instead of once per
 * test file keeps that cost off every file that opens an embedded database.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'otactl-pglite-template-'));
  const database = await openDatabase({ kind: 'memory' });
  try {
    const dump = await database.dump!();
    const file = join(dir, 'migrated.tar');
    await writeFile(file, new Uint8Array(await dump.arrayBuffer()));
    project.provide('pgliteTemplate', file);
  } finally {
    await database.close();
  }
  await vacuumCatalogs();
  project.provide('postgresTemplate', await postgresTemplate(dir));
  return () => rm(dir, { recursive: true, force: true });
}

/**
 * Migrating a Postgres schema takes a second or more (25 migrations, each its own transaction);
 * replaying the schema pg_dump printed after migrating one takes a fraction of that. About 240
 * tests open a Postgres schema: the migrations run once per run here (failing the run if they
 * fail), and each test's schema is a copy of the result.
 */
async function postgresTemplate(dir: string): Promise<{ file: string; schema: string } | undefined> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) return undefined;
  const schema = `otactl_template_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`create schema ${schema}`);
    const migrated = await openDatabase({ kind: 'postgres', url, schema });
    await migrated.close();
    let dump: string;
    try {
      const { stdout } = await promisify(execFile)(
        'pg_dump',
        ['--schema', schema, '--inserts', '--no-owner', '--no-privileges', url],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      dump = stdout;
    } catch (error) {
      console.warn(
        `global-setup: no Postgres template (pg_dump: ${(error as Error).message}); tests migrate each schema`,
      );
      return undefined;
    }
    // psql meta-commands (the \restrict of newer pg_dump) are not SQL.
    const sql = dump
      .split('\n')
      .filter((line) => !line.startsWith('\\'))
      .join('\n');
    const file = join(dir, 'postgres-template.sql');
    await writeFile(file, sql);
    return { file, schema };
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}

/**
 * The catalog tables every test schema's creation and drop write to: 240 schemas a run leave about
 * 100,000 dead rows in pg_attribute alone. Autovacuum would reclaim them, but the Postgres this
 * suite runs on may have it off (this machine's has), and then the catalogs only grow, run after
 * run, and every schema's creation and every new connection's catalog reads slow down (seen: 342
 * MB of catalogs after a day of runs). A plain VACUUM (no table lock that blocks DDL, under a
 * second) lets each run reuse the space the previous one left.
 */
async function vacuumCatalogs(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) return;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`vacuum ${CATALOGS.map((t) => `pg_catalog.${t}`).join(', ')}`);
  } finally {
    await admin.end();
  }
}

const CATALOGS = [
  'pg_attribute',
  'pg_attrdef',
  'pg_class',
  'pg_constraint',
  'pg_depend',
  'pg_description',
  'pg_index',
  'pg_namespace',
  'pg_sequence',
  'pg_statistic',
  'pg_trigger',
  'pg_type',
];
