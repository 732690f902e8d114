import { DatabaseOpenError, type OpenDatabase, openDatabase, parseDatabaseSpec } from '../store/index.js';
import { resolveDbSpec } from './options.js';
import { UserError } from './user-error.js';

/** Opens (and migrates) the database a command was pointed at; problems become one-line UserErrors. */
export async function openStoreForCli(
  dbFlag: string | undefined,
  options: { migrate?: boolean } = {},
): Promise<OpenDatabase> {
  try {
    return await openDatabase(parseDatabaseSpec(resolveDbSpec(dbFlag)), options);
  } catch (error) {
    if (error instanceof DatabaseOpenError) throw new UserError(error.message);
    throw error;
  }
}
