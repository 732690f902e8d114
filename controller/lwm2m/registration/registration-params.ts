import { type Lwm2mVersion, supportedVersion } from './registration.js';

export interface RegisterParams {
  readonly endpoint: string;
  readonly lifetime: number;
  readonly lwm2mVersion: Lwm2mVersion;
  readonly binding: string;
  readonly queueMode: boolean;
  readonly sms: string | undefined;
}

export interface UpdateParams {
  readonly lifetime?: number;
  readonly binding?: string;
  /** Set when `Q` is present (1.1+) or when `b` is present (its 1.0 queue flag, e.g. 'UQ' or 'U'). */
  readonly queueMode?: boolean;
  /** True when queueMode comes only from the `b` parameter (meaningful for 1.0 clients only). */
  readonly queueFromBinding?: boolean;
  readonly sms?: string;
}

export type ParamsResult<T> =
  | { readonly kind: 'ok'; readonly params: T }
  | { readonly kind: 'rejected'; readonly code: '4.00' | '4.12'; readonly message: string };

export const DEFAULT_LIFETIME_S = 86_400;
/** The spec's range for `lt` (an unsigned 32-bit integer, 0 excluded). */
export const MAX_LIFETIME_S = 4_294_967_295;
/** What `devices.lifetime_s` (int4) holds; a longer lifetime (68 years and more) is kept as this. */
export const MAX_STORED_LIFETIME_S = 2_147_483_647;
const MAX_ENDPOINT_BYTES = 255;
const BINDING = /^[UMSNTQ]+$/;

function toQuery(segments: readonly string[]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (const seg of segments) {
    const eq = seg.indexOf('=');
    if (eq < 0) out.set(seg, true);
    else out.set(seg.slice(0, eq), seg.slice(eq + 1));
  }
  return out;
}

const INVALID_LIFETIME = `invalid lifetime (lt): an integer from 1 to ${MAX_LIFETIME_S} seconds`;

/** `lt` in seconds, clamped to what the database stores, so memory and the row agree. */
function parseLifetime(v: string | true | undefined): number | undefined | 'invalid' {
  if (v === undefined) return undefined;
  if (v === true || !/^\d{1,10}$/.test(v)) return 'invalid';
  const n = Number(v);
  if (n < 1 || n > MAX_LIFETIME_S) return 'invalid';
  return Math.min(n, MAX_STORED_LIFETIME_S);
}

/** Splits `b` into binding and the 1.0 queue flag ('UQ' = U in queue mode). */
function parseBinding(
  v: string | true | undefined,
): { binding: string; queue: boolean } | undefined | 'invalid' {
  if (v === undefined) return undefined;
  if (v === true || !BINDING.test(v)) return 'invalid';
  const queue = v.includes('Q');
  const binding = v.replaceAll('Q', '');
  return { binding: binding === '' ? 'U' : binding, queue };
}

/** Register: `ep` is mandatory; `lt` 86400, `lwm2m` 1.0 and `b` U by default; `Q` (1.1+) or `b=UQ` (1.0) for queue mode. */
export function parseRegisterQuery(query: readonly string[]): ParamsResult<RegisterParams> {
  const q = toQuery(query);
  const ep = q.get('ep');
  if (typeof ep !== 'string' || ep === '' || Buffer.byteLength(ep) > MAX_ENDPOINT_BYTES) {
    return { kind: 'rejected', code: '4.00', message: 'missing or invalid endpoint name (ep)' };
  }
  const lt = parseLifetime(q.get('lt'));
  if (lt === 'invalid') return { kind: 'rejected', code: '4.00', message: INVALID_LIFETIME };
  const requested = q.get('lwm2m') ?? '1.0';
  if (requested === true) return { kind: 'rejected', code: '4.00', message: 'invalid lwm2m version' };
  const version = supportedVersion(requested);
  if (version === undefined) {
    return { kind: 'rejected', code: '4.12', message: `unsupported LwM2M version ${requested}` };
  }
  const b = parseBinding(q.get('b'));
  if (b === 'invalid') return { kind: 'rejected', code: '4.00', message: 'invalid binding (b)' };
  const sms = q.get('sms');
  return {
    kind: 'ok',
    params: {
      endpoint: ep,
      lifetime: lt ?? DEFAULT_LIFETIME_S,
      lwm2mVersion: version,
      binding: b?.binding ?? 'U',
      queueMode: q.has('Q') || (b?.queue ?? false),
      sms: typeof sms === 'string' ? sms : undefined,
    },
  };
}

/** Update: every parameter is optional; absent ones keep their registered value. */
export function parseUpdateQuery(query: readonly string[]): ParamsResult<UpdateParams> {
  const q = toQuery(query);
  const lt = parseLifetime(q.get('lt'));
  if (lt === 'invalid') return { kind: 'rejected', code: '4.00', message: INVALID_LIFETIME };
  const b = parseBinding(q.get('b'));
  if (b === 'invalid') return { kind: 'rejected', code: '4.00', message: 'invalid binding (b)' };
  const sms = q.get('sms');
  const queueMode = q.has('Q') ? true : b?.queue;
  return {
    kind: 'ok',
    params: {
      ...(lt === undefined ? {} : { lifetime: lt }),
      ...(b === undefined ? {} : { binding: b.binding }),
      ...(queueMode === undefined ? {} : { queueMode, queueFromBinding: !q.has('Q') }),
      ...(typeof sms === 'string' ? { sms } : {}),
    },
  };
}
