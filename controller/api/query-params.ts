/** A query parameter read as a value or a message for a 400. */
export type ParamResult<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'invalid'; readonly error: string };

const ok = <T>(value: T): ParamResult<T> => ({ kind: 'ok', value });
const invalid = (error: string): ParamResult<never> => ({ kind: 'invalid', error });

export function optionalText(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name);
  return value === null || value === '' ? undefined : value;
}

export function intParam(
  params: URLSearchParams,
  name: string,
  bounds: { min: number; max: number; fallback?: number },
): ParamResult<number | undefined> {
  const raw = params.get(name);
  if (raw === null || raw === '') return ok(bounds.fallback);
  if (!/^\d+$/.test(raw)) return invalid(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < bounds.min || value > bounds.max) {
    return invalid(`${name} must be between ${bounds.min} and ${bounds.max}, got ${raw}`);
  }
  return ok(value);
}
