import { type Kysely, Migrator } from 'kysely';
import { migrationProvider } from './migrations/index.js';

export type MigrateResult =
  | { readonly ok: true; readonly applied: readonly string[] }
  | { readonly ok: false; readonly error: string; readonly applied: readonly string[] };

/** Brings the schema to the newest migration; a no-op on an up-to-date database. */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
export async function migrateToLatest(db: Kysely<any>, schema?: string): Promise<MigrateResult> {
  // With a schema, Kysely must look for its bookkeeping tables there, not in any schema it can see.
  const migrator = new Migrator({
    db,
    provider: migrationProvider,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, error: failed ? `${failed}: ${message}` : message, applied };
  }
  return { ok: true, applied };
}
