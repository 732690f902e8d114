import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { Migrator } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { migratorFor, type OpenDatabase, openDatabase } from '../../controller/store/index.js';

export interface TestBackend {
  readonly name: 'pglite' | 'postgres';
  /**
   * A fresh, migrated database of its own: PGlite in memory, or a new schema on the test Postgres
   * (both copies of the database global-setup.ts migrated, unless `migrate` is false).
   */
  open(options?: {
    migrate?: boolean;
    poolSize?: number;
    preparedStatements?: boolean;
  }): Promise<OpenDatabase>;
}

/** A migrator of `store` (opened with `migrate: false`), to bring it to any migration and back. */
export function migratorOf(store: OpenDatabase): Migrator {
  return migratorFor(store.db, store.spec.kind === 'postgres' ? store.spec.schema : undefined);
}

/** The Postgres to test on; undefined (also when set empty) runs every test on PGlite only. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || undefined;

// Made once per run by global-setup.ts; read once per test file.
let migratedTemplate: Promise<Blob> | undefined;
function pgliteTemplate(): Promise<Blob> {
  migratedTemplate ??= readFile(inject('pgliteTemplate')).then((bytes) => new Blob([bytes]));
  return migratedTemplate;
}

/**
 * Fills an empty data directory with the migrated template, as `otactl run --db DIR` would leave
 * it after its first start but without initdb and migrations in each test (seconds of CPU each).
 * For tests whose subject is not the first start of an embedded database.
 */
export async function seedPgliteDataDir(dataDir: string): Promise<void> {
  const seeded = await PGlite.create({ dataDir, loadDataDir: await pgliteTemplate() });
  await seeded.close();
}

const pglite: TestBackend = {
  name: 'pglite',
  async open(options) {
    if (options?.migrate === false) return openDatabase({ kind: 'memory' }, options);
    return openDatabase({ kind: 'memory', template: await pgliteTemplate() }, options);
  },
};

// The migrated schema of global-setup.ts as SQL naming it `schema`; read once per test file.
let postgresTemplate: Promise<{ sql: string; schema: string } | undefined> | undefined;
function postgresSchemaTemplate(): Promise<{ sql: string; schema: string } | undefined> {
  const template = inject('postgresTemplate');
  postgresTemplate ??= template
    ? readFile(template.file, 'utf8').then((sql) => ({ sql, schema: template.schema }))
    : Promise.resolve(undefined);
  return postgresTemplate;
}

const postgres: TestBackend = {
  name: 'postgres',
  async open(options) {
    const url = TEST_DATABASE_URL as string;
    const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    // A copy of the schema global-setup.ts migrated, in one transaction, unless the test migrates
    // itself; opening it still runs the migrator, which finds nothing to do (or fails the test).
    const template = options?.migrate === false ? undefined : await postgresSchemaTemplate();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    if (template === undefined) await admin.query(`create schema ${schema}`);
    else await admin.query(`begin;\n${template.sql.replaceAll(template.schema, schema)}\ncommit;`);
    await admin.end();
    const opened = await openDatabase({ kind: 'postgres', url, schema }, options);
    return {
      ...opened,
      close: async () => {
        await opened.close();
        const cleanup = new pg.Client({ connectionString: url });
        await cleanup.connect();
        await cleanup.query(`drop schema ${schema} cascade`);
        await cleanup.end();
      },
    };
  },
};

/** Every backend the suite runs against here: PGlite always, Postgres when TEST_DATABASE_URL is set. */
export const testBackends: readonly TestBackend[] = TEST_DATABASE_URL ? [pglite, postgres] : [pglite];
