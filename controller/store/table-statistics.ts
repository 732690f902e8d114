import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.js';

/**
 * Tables whose size and contents swing within seconds: a fleet registers in a burst, a rollout
 * starts thousands of updates in one pass and finishes them a minute later.
 */
export const FAST_CHANGING_TABLES = ['devices', 'firmware_updates'] as const;
export type FastChangingTable = (typeof FAST_CHANGING_TABLES)[number];

/** Autovacuum's analyze rule (threshold 50 rows plus a tenth of the table), at a pace of our choosing. */
const ANALYZE_THRESHOLD = 50;
const ANALYZE_SCALE_FACTOR = 0.1;

/**
 * Runs ANALYZE on each of the fast-changing tables that changed by more than autovacuum's own
 * rule since its last ANALYZE; returns the tables analyzed. Postgres only (PGlite has no
 * statistics views that keep up). Autovacuum looks once a minute: for that minute the planner
 * reads a table of 5,000 fresh updates as one of a few rows, and joins it to the devices by a
 * nested loop over both (readRollout at 5,000 devices: 900 ms against 30 ms once analyzed).
 */
export async function analyzeChangedTables(db: Kysely<Database>): Promise<FastChangingTable[]> {
  const changed = await sql<{ relname: FastChangingTable }>`
    select s.relname from pg_stat_user_tables s join pg_class c on c.oid = s.relid
    where s.schemaname = current_schema()
      and s.relname in (${sql.join(FAST_CHANGING_TABLES.map((t) => sql.lit(t)))})
      and s.n_mod_since_analyze > ${sql.lit(ANALYZE_THRESHOLD)} + ${sql.lit(ANALYZE_SCALE_FACTOR)} * greatest(c.reltuples, 0)
    order by s.relname`.execute(db);
  const tables = changed.rows.map((r) => r.relname);
  for (const table of tables) await sql`analyze ${sql.table(table)}`.execute(db);
  return tables;
}
