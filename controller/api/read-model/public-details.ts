/**
 * Keys never shown outside the controller. A registration id lets whoever holds it address the
 * registration (`/rd/<id>`); events written before ids were kept out of them still carry one.
 */
const PRIVATE_KEYS: ReadonlySet<string> = new Set(['registrationId']);

/** Nesting searched for private keys (old events nest one level, under `previous`). */
const MAX_DEPTH = 4;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strip(value: Record<string, unknown>, depth: number): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [key, inner] of Object.entries(value)) {
    let kept: unknown = inner;
    if (PRIVATE_KEYS.has(key)) kept = undefined;
    else if (depth < MAX_DEPTH && isPlainObject(inner)) kept = strip(inner, depth + 1);
    if (kept === inner) continue;
    out ??= { ...value };
    if (kept === undefined) delete out[key];
    else out[key] = kept;
  }
  return out ?? value;
}

/** An event's details as the API, the event stream and the CLI show them: without private keys. */
export function publicDetails(details: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  return strip(details, 1);
}
