/** The SQLSTATE of a database error: both drivers (pg, PGlite) put it on the thrown error as `code`. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  // Node's own errors (ECONNREFUSED, ...) have a `code` too, never five characters of [0-9A-Z].
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Whether the database refused the data itself: class 22 (data exception: a value out of range,
 * bad text) or 23 (integrity constraint violation). Sending the same rows again fails the same
 * way; any other failure (connection lost, database down, deadlock) may pass on a retry.
 */
export function isDataError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && (state.startsWith('22') || state.startsWith('23'));
}

/** Postgres SQLSTATE 23505; both drivers put the code on the thrown error. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown };
  if (e.code !== '23505') return false;
  if (constraint === undefined) return true;
  return e.constraint === constraint || (typeof e.message === 'string' && e.message.includes(constraint));
}
