import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type OpenDatabase, openDatabase } from '../controller/store/index.js';
import type { DatabaseKind } from './figure.js';

export interface BenchDatabase {
  readonly kind: Exclude<DatabaseKind, 'none'>;
  /** A fresh, migrated database: PGlite in memory, or a new schema on Postgres (dropped on close). */
  open(): Promise<OpenDatabase>;
}

// A dump of a migrated PGlite loads much faster than migrating again.
let template: Promise<Blob> | undefined;

export const pgliteDatabase: BenchDatabase = {
  kind: 'pglite',
  async open() {
    template ??= (async () => {
      const first = await openDatabase({ kind: 'memory' });
      const dump = await first.dump!();
      await first.close();
      return dump;
    })();
    return openDatabase({ kind: 'memory', template: await template });
  },
};

export function postgresDatabase(url: string): BenchDatabase {
  return {
    kind: 'postgres',
    async open() {
      const schema = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
      await adminQuery(url, `create schema ${schema}`);
      const opened = await openDatabase({ kind: 'postgres', url, schema }, { poolSize: 10 });
      return {
        ...opened,
        close: async () => {
          await opened.close();
          await adminQuery(url, `drop schema ${schema} cascade`);
        },
      };
    },
  };
}

/**
 * A new database (not a schema: `otactl run --db` takes a URL) on the server of `url`, for bench
 * processes that open it themselves; `drop` removes it.
 */
export async function createPostgresDatabase(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `otactl_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  await adminQuery(url, `create database ${name}`);
  const own = new URL(url);
  own.pathname = `/${name}`;
  return { url: own.toString(), drop: () => adminQuery(url, `drop database if exists ${name} with (force)`) };
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** PGlite always; Postgres as well when a URL is given. */
export function benchDatabases(postgresUrl: string | undefined): BenchDatabase[] {
  return postgresUrl ? [pgliteDatabase, postgresDatabase(postgresUrl)] : [pgliteDatabase];
}
