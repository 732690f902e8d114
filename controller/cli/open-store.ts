import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseOpenError, type OpenDatabase, openDatabase, parseDatabaseSpec } from '../store/index.js';
import { resolveDbSpec } from './options.js';
import { UserError } from './user-error.js';

/** Opens (and migrates) the database a command was pointed at; problems become one-line UserErrors. */
export async function openStoreForCli(
  dbFlag: string | undefined,
  options: {
    migrate?: boolean;
    /** A command that only reads (status, history, plan): an embedded database that is not there is not created. */
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
    return await openDatabase(spec, {
      ...(options.migrate === undefined ? {} : { migrate: options.migrate }),
      ...(options.applicationName === undefined ? {} : { applicationName: options.applicationName }),
    });
  } catch (error) {
    if (error instanceof DatabaseOpenError) throw new UserError(error.message);
    throw error;
  }
}
