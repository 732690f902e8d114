import { type Kysely, Migrator } from 'kysely';
import { migrationProvider } from './migrations/index.js';

export type MigrateResult =
  | { readonly ok: true; readonly applied: readonly string[] }
  | { readonly ok: false; readonly error: string; readonly applied: readonly string[] };

/** Brings the schema to the newest migration; a no-op on an up-to-date database. */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
export async function migrateToLatest(db: Kysely<any>, schema?: string): Promise<MigrateResult> {
  const { error, results = [] } = await migratorFor(db, schema).migrateToLatest();
  const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, error: failed ? `${failed}: ${message}` : message, applied };
  }
  return { ok: true, applied };
}

/** How far a database's schema is from this version's migrations, read without changing anything. */
export type SchemaState =
  | { readonly kind: 'current' }
  /** No migration of this version ran: not an otactl database, or one never started. */
  | { readonly kind: 'empty' }
  | { readonly kind: 'behind'; readonly pending: readonly string[] };

// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
export async function schemaState(db: Kysely<any>, schema?: string): Promise<SchemaState> {
  const migrations = await migratorFor(db, schema).getMigrations();
  const pending = migrations.filter((m) => m.executedAt === undefined).map((m) => m.name);
  if (pending.length === 0) return { kind: 'current' };
  if (pending.length === migrations.length) return { kind: 'empty' };
  return { kind: 'behind', pending };
}

/** This version's migrations on `db`, their bookkeeping in `schema` when given (to move to any migration and back). */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
export function migratorFor(db: Kysely<any>, schema?: string): Migrator {
  // With a schema, Kysely must look for its bookkeeping tables there, not in any schema it can see.
  return new Migrator({
    db,
    provider: migrationProvider,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
}
