/** An LwM2M path: `/objectId[/instanceId[/resourceId[/resourceInstanceId]]]`. */
export interface Lwm2mPath {
  readonly objectId: number;
  readonly instanceId?: number;
  readonly resourceId?: number;
  readonly resourceInstanceId?: number;
}

/** The root path `/` parses to this: no object id is meaningful. */
export const ROOT_OBJECT_ID = -1;

export class PathError extends Error {
  readonly kind = 'path-error';
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`invalid LwM2M path '${input}': ${reason}`);
    this.name = 'PathError';
  }
}

const MAX_ID = 65535;

/**
 * Parses '/3/0/3', '3/0/3' or '/'. A trailing slash is tolerated ('/5/0/').
 * The root path '/' yields `{ objectId: ROOT_OBJECT_ID }`; use `isRootPath` to test it.
 * The result is frozen and may be shared: the same few paths are parsed for every message.
 */
export function parsePath(text: string): Lwm2mPath {
  const cached = parsed.get(text);
  if (cached !== undefined) return cached;
  const path = Object.freeze(parseUncached(text));
  // Bounded: paths come from devices too. Starting over costs one parse per path.
  if (parsed.size >= MAX_CACHED_PATHS) parsed.clear();
  parsed.set(text, path);
  return path;
}

const MAX_CACHED_PATHS = 1024;
const parsed = new Map<string, Lwm2mPath>();

function parseUncached(text: string): Lwm2mPath {
  let body = text.trim();
  if (body.startsWith('/')) body = body.slice(1);
  if (body.endsWith('/')) body = body.slice(0, -1);
  if (body === '') return { objectId: ROOT_OBJECT_ID };
  const parts = body.split('/');
  if (parts.length > 4) throw new PathError(text, 'more than 4 segments');
  const ids: number[] = [];
  for (const part of parts) {
    const n = segmentId(part);
    if (n === undefined) throw new PathError(text, `segment '${part}' is not a number`);
    if (n > MAX_ID) throw new PathError(text, `segment ${n} exceeds ${MAX_ID}`);
    ids.push(n);
  }
  const [objectId, instanceId, resourceId, resourceInstanceId] = ids as [number, ...(number | undefined)[]];
  if (instanceId === undefined) return { objectId };
  if (resourceId === undefined) return { objectId, instanceId };
  if (resourceInstanceId === undefined) return { objectId, instanceId, resourceId };
  return { objectId, instanceId, resourceId, resourceInstanceId };
}

/** 1 to 5 ASCII digits as a number; undefined for anything else. */
function segmentId(part: string): number | undefined {
  if (part.length === 0 || part.length > 5) return undefined;
  let n = 0;
  for (let i = 0; i < part.length; i++) {
    const digit = part.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    n = n * 10 + digit;
  }
  return n;
}

/** Like `parsePath` but returns undefined instead of throwing. */
export function tryParsePath(text: string): Lwm2mPath | undefined {
  try {
    return parsePath(text);
  } catch (err) {
    if (err instanceof PathError) return undefined;
    throw err;
  }
}

export function isRootPath(p: Lwm2mPath): boolean {
  return p.objectId === ROOT_OBJECT_ID;
}

export function formatPath(p: Lwm2mPath): string {
  if (isRootPath(p)) return '/';
  let out = `/${p.objectId}`;
  if (p.instanceId === undefined) return out;
  out += `/${p.instanceId}`;
  if (p.resourceId === undefined) return out;
  out += `/${p.resourceId}`;
  if (p.resourceInstanceId === undefined) return out;
  return `${out}/${p.resourceInstanceId}`;
}

function segments(p: Lwm2mPath): number[] {
  if (isRootPath(p)) return [];
  const out = [p.objectId];
  for (const id of [p.instanceId, p.resourceId, p.resourceInstanceId]) {
    if (id === undefined) break;
    out.push(id);
  }
  return out;
}

/** The depth: 0 root, 1 object, 2 instance, 3 resource, 4 resource instance. */
export function pathDepth(p: Lwm2mPath): number {
  // As segments(p).length, without building the array (every decoded record asks).
  if (isRootPath(p)) return 0;
  if (p.instanceId === undefined) return 1;
  if (p.resourceId === undefined) return 2;
  return p.resourceInstanceId === undefined ? 3 : 4;
}

/** True when `path` equals `prefix` or lies below it ('/' is a prefix of everything). */
export function isPrefixOf(prefix: Lwm2mPath, path: Lwm2mPath): boolean {
  const a = segments(prefix);
  const b = segments(path);
  if (a.length > b.length) return false;
  return a.every((id, i) => b[i] === id);
}
