import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { lockDataDir } from './data-dir-lock.js';
import { migrateToLatest } from './migrate.js';
import { preparingClient, StatementNames } from './prepared-statements.js';
import type { Database } from './schema.js';
import { withSearchPathIntrospection } from './scoped-introspection.js';
import { parseTimestamptz, TIMESTAMPTZ_OID } from './timestamptz.js';

export type DatabaseSpec =
  /** `template`: a PGlite data-directory dump to start from (tests load a migrated one). */
  | { readonly kind: 'memory'; readonly template?: Blob }
  | { readonly kind: 'pglite'; readonly dataDir: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly schema?: string };

export interface OpenDatabase {
  readonly db: Kysely<Database>;
  readonly spec: DatabaseSpec;
  /** For logs and errors: never contains a password. */
  readonly description: string;
  /** Postgres only: the application_name of this pool's connections (see OpenOptions). */
  readonly applicationName?: string;
  /** PGlite only: a dump of the data directory (a template for fresh copies). */
  dump?(): Promise<Blob | File>;
  close(): Promise<void>;
}

/** A problem opening the database that the operator must fix; the message is one line. */
export class DatabaseOpenError extends Error {
  constructor(
    message: string,
    /** `busy`: an embedded database another otactl process holds. */
    readonly reason: 'busy' | 'other' = 'other',
  ) {
    super(message);
    this.name = 'DatabaseOpenError';
  }
}

export function parseDatabaseSpec(text: string): DatabaseSpec {
  if (text === 'memory' || text === 'memory://') return { kind: 'memory' };
  if (/^postgres(ql)?:\/\//.test(text)) return { kind: 'postgres', url: text };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new DatabaseOpenError(
      `unsupported database "${redact(text)}": use "memory", a directory path, or a postgres:// URL`,
    );
  }
  return { kind: 'pglite', dataDir: resolve(text) };
}

export interface OpenOptions {
  /** Apply migrations on open (default true); `otactl migrate` and tests may want them explicit. */
  readonly migrate?: boolean;
  /** Max connections for Postgres. */
  readonly poolSize?: number;
  /**
   * Postgres: run repeated statements as named prepared statements (see prepared-statements.ts).
   * Default on, unless OTACTL_PG_PREPARE=off (for a connection pooler that cannot keep them, such
   * as PgBouncer before 1.21 in transaction mode).
   */
  readonly preparedStatements?: boolean;
  /**
   * Postgres: the connections' application_name, which other replicas see as the writer of their
   * work signals (migration 0023); default `otactl-` and a random suffix, unique per pool.
   */
  readonly applicationName?: string;
}

export async function openDatabase(spec: DatabaseSpec, options: OpenOptions = {}): Promise<OpenDatabase> {
  const opened = spec.kind === 'postgres' ? await openPostgres(spec, options) : await openPglite(spec);
  if (options.migrate ?? true) {
    const result = await migrateToLatest(opened.db, spec.kind === 'postgres' ? spec.schema : undefined);
    if (!result.ok) {
      await opened.close();
      throw new DatabaseOpenError(`migrating ${opened.description} failed: ${result.error}`);
    }
  }
  return opened;
}

// int8 columns (bigint ids, counts) are read as numbers: ids stay far below 2^53.
const parseInt8 = (value: string) => Number(value);

async function openPglite(spec: Extract<DatabaseSpec, { kind: 'memory' | 'pglite' }>): Promise<OpenDatabase> {
  let release = async () => {};
  let description = 'embedded database (in memory)';
  if (spec.kind === 'pglite') {
    description = `embedded database at ${spec.dataDir}`;
    const lock = await lockDataDir(spec.dataDir);
    if (lock.kind === 'busy') {
      throw new DatabaseOpenError(
        `${description} is in use by another otactl (pid ${lock.pid ?? 'unknown'}); stop it or pass another --db`,
        'busy',
      );
    }
    if (lock.kind === 'unusable') throw new DatabaseOpenError(`cannot lock ${description}: ${lock.reason}`);
    release = lock.release;
  }
  let pglite: PGlite;
  try {
    // One options object: PGlite.create ignores its second argument unless the first is a string,
    // which once dropped both the int8 parser and the template of every in-memory database.
    pglite = await PGlite.create({
      ...(spec.kind === 'pglite' ? { dataDir: spec.dataDir } : {}),
      parsers: { 20: parseInt8 },
      ...(spec.kind === 'memory' && spec.template ? { loadDataDir: spec.template } : {}),
    });
  } catch (error) {
    await release();
    throw new DatabaseOpenError(`cannot open ${description}: ${messageOf(error)}`);
  }
  const db = new Kysely<Database>({ dialect: withSearchPathIntrospection(new PGliteDialect(pglite)) });
  return {
    db,
    spec,
    description,
    dump: () => pglite.dumpDataDir('none'),
    close: async () => {
      await db.destroy();
      await release();
    },
  };
}

async function openPostgres(
  spec: Extract<DatabaseSpec, { kind: 'postgres' }>,
  options: OpenOptions,
): Promise<OpenDatabase> {
  const description = `Postgres at ${redact(spec.url)}${spec.schema ? ` (schema ${spec.schema})` : ''}`;
  const applicationName = options.applicationName ?? `otactl-${randomBytes(4).toString('hex')}`;
  const types = {
    getTypeParser: (oid: number, format?: 'text' | 'binary') =>
      oid === 20
        ? parseInt8
        : oid === TIMESTAMPTZ_OID
          ? parseTimestamptz
          : pg.types.getTypeParser(oid, format),
  };
  const pool = new pg.Pool({
    connectionString: spec.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5_000,
    application_name: applicationName,
    // JIT compilation costs more than it saves on the reconciler's aggregate queries.
    options: `-c jit=off${spec.schema ? ` -c search_path=${spec.schema}` : ''}`,
    types,
    ...((options.preparedStatements ?? process.env.OTACTL_PG_PREPARE !== 'off')
      ? { Client: preparingClient(new StatementNames()) }
      : {}),
  });
  // A client losing its connection (server restart, terminated backend) must not crash the
  // process: idle clients report on the pool, checked-out ones on themselves. The query that
  // was running fails and the reconciler retries its pass with backoff.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => {});
    throw new DatabaseOpenError(`cannot connect to ${description}: ${messageOf(error)}`);
  }
  const db = new Kysely<Database>({ dialect: withSearchPathIntrospection(new PostgresDialect({ pool })) });
  return { db, spec, description, applicationName, close: () => db.destroy() };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return messageOf(error.errors[0]);
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}
