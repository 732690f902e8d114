import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  DatabaseOpenError,
  type OpenDatabase,
  openDatabase,
  parseDatabaseSpec,
  schemaState,
} from '../store/index.js';
import { resolveDbSpec } from './options.js';
import { UserError } from './user-error.js';

/** Opens (and migrates) the database a command was pointed at; problems become one-line UserErrors. */
export async function openStoreForCli(
  dbFlag: string | undefined,
  options: {
    migrate?: boolean;
    /**
     * A command that only reads (status, history, plan): it changes no database. One that is not
     * there is not created, and one without this version's migrations is refused, not migrated
     * (the wrong DATABASE_URL must not receive otactl's tables, nor production a migration that a
     * status command started). An in-memory database is the exception: it is new, and migrated.
     */
    existing?: boolean;
    /** Postgres: the connections' application_name. */
    applicationName?: string;
  } = {},
): Promise<OpenDatabase> {
  try {
    const spec = parseDatabaseSpec(resolveDbSpec(dbFlag));
    // PG_VERSION is the first file of a PGlite (Postgres) data directory.
    if (options.existing && spec.kind === 'pglite' && !existsSync(join(spec.dataDir, 'PG_VERSION'))) {
      throw new UserError(
        `no database at ${spec.dataDir} (otactl run creates it; or pass --db, set DATABASE_URL, or read a running controller with --server URL)`,
      );
    }
    const readOnly = options.existing === true && spec.kind !== 'memory';
    const opened = await openDatabase(spec, {
      ...(readOnly ? { migrate: false } : options.migrate === undefined ? {} : { migrate: options.migrate }),
      ...(options.applicationName === undefined ? {} : { applicationName: options.applicationName }),
    });
    if (readOnly) await refuseUnmigrated(opened);
    return opened;
  } catch (error) {
    if (error instanceof DatabaseOpenError) {
      // A running controller holds its embedded database: its HTTP API serves the same reads.
      const hint =
        error.reason === 'busy' && options.existing
          ? ' (to read a running controller: --server http://HOST:8080)'
          : '';
      throw new UserError(`${error.message}${hint}`);
    }
    throw error;
  }
}

async function refuseUnmigrated(opened: OpenDatabase): Promise<void> {
  const state = await schemaState(
    opened.db,
    opened.spec.kind === 'postgres' ? opened.spec.schema : undefined,
  ).catch(async (error: unknown) => {
    await opened.close();
    throw error;
  });
  if (state.kind === 'current') return;
  await opened.close();
  if (state.kind === 'empty') {
    throw new UserError(
      `${opened.description} holds no otactl data (otactl run or otactl migrate sets it up); check --db or DATABASE_URL`,
    );
  }
  const [first] = state.pending;
  const more = state.pending.length > 1 ? ` and ${state.pending.length - 1} more` : '';
  throw new UserError(
    `${opened.description} lacks this otactl's migration ${first}${more}: run otactl migrate first (this command only reads)`,
  );
}
