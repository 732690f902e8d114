import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.js';

export type DatabaseCheck = { readonly kind: 'ok' } | { readonly kind: 'failed'; readonly reason: string };

/** A `select 1` bounded by `timeoutMs`: a hung database must not hang /readyz. */
export async function checkDatabase(db: Kysely<Database>, timeoutMs: number): Promise<DatabaseCheck> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<DatabaseCheck>((resolve) => {
    timer = setTimeout(
      () => resolve({ kind: 'failed', reason: `database did not answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  const query = sql`select 1`.execute(db).then(
    (): DatabaseCheck => ({ kind: 'ok' }),
    (error: unknown): DatabaseCheck => ({
      kind: 'failed',
      reason: `database unreachable: ${error instanceof Error ? error.message : String(error)}`,
    }),
  );
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
