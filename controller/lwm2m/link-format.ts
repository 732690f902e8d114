/** CoRE Link Format (RFC 6690) as used by LwM2M Register/Update bodies and Discover answers. */

export interface Link {
  readonly uri: string;
  /** Parameter values with quotes removed; a parameter without `=` is `true`. */
  readonly params: Readonly<Record<string, string | true>>;
}

export type LinkResult =
  | { readonly ok: true; readonly links: readonly Link[] }
  | { readonly ok: false; readonly error: string };

const WS = new Set([' ', '\t', '\r', '\n']);
const TOKEN_END = new Set([';', ',', '=', ' ', '\t', '\r', '\n']);

/** Parses a link-format body. Tolerates whitespace and newlines between links and parameters. */
export function parseLinkFormat(text: string): LinkResult {
  const links: Link[] = [];
  let i = 0;
  const n = text.length;
  const skipWs = () => {
    while (i < n && WS.has(text[i]!)) i++;
  };
  skipWs();
  if (i === n) return { ok: true, links };
  for (;;) {
    skipWs();
    if (text[i] !== '<') return { ok: false, error: `expected '<' at offset ${i}` };
    const close = text.indexOf('>', i + 1);
    if (close < 0) return { ok: false, error: `unterminated '<' at offset ${i}` };
    const uri = text.slice(i + 1, close);
    i = close + 1;
    const params: Record<string, string | true> = {};
    for (;;) {
      skipWs();
      if (text[i] !== ';') break;
      i++;
      skipWs();
      const start = i;
      while (i < n && !TOKEN_END.has(text[i]!)) i++;
      const name = text.slice(start, i);
      if (name === '') return { ok: false, error: `empty parameter name at offset ${start}` };
      skipWs();
      if (text[i] !== '=') {
        params[name] = true;
        continue;
      }
      i++;
      skipWs();
      if (text[i] === '"') {
        let value = '';
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          value += text[i];
          i++;
        }
        if (i >= n) return { ok: false, error: `unterminated quoted value of '${name}'` };
        i++;
        params[name] = value;
      } else {
        const vs = i;
        while (i < n && text[i] !== ';' && text[i] !== ',' && !WS.has(text[i]!)) i++;
        params[name] = text.slice(vs, i);
      }
    }
    links.push({ uri, params });
    skipWs();
    if (i >= n) return { ok: true, links };
    if (text[i] !== ',') return { ok: false, error: `expected ',' or ';' at offset ${i}` };
    i++;
    skipWs();
    // A trailing comma is tolerated.
    if (i >= n) return { ok: true, links };
  }
}

function needsQuotes(value: string): boolean {
  return value === '' || /[;,"\s<>\\=]/.test(value);
}

/** Quotes `rt`, `if`, and values containing separators; numbers and simple tokens stay bare. */
const ALWAYS_QUOTED = new Set(['rt', 'if', 'title', 'anchor', 'rel']);

export function serializeLinkFormat(links: readonly Link[]): string {
  return links
    .map((link) => {
      let out = `<${link.uri}>`;
      for (const [name, value] of Object.entries(link.params)) {
        if (value === true) out += `;${name}`;
        else if (ALWAYS_QUOTED.has(name) || needsQuotes(value))
          out += `;${name}="${value.replace(/["\\]/g, '\\$&')}"`;
        else out += `;${name}=${value}`;
      }
      return out;
    })
    .join(',');
}

export interface RegisteredObject {
  readonly objectId: number;
  readonly instanceId?: number;
  readonly version?: string;
}

export interface RegistrationObjects {
  /** The alternate root path announced with `rt="oma.lwm2m"`, or '/' by default (no trailing slash otherwise). */
  readonly rootPath: string;
  readonly objects: readonly RegisteredObject[];
  /** Content formats listed by `ct` on the root link, if any. */
  readonly contentFormats?: number[];
}

function parseCt(value: string | true): number[] {
  if (value === true) return [];
  return value
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(Number)
    .filter((x) => Number.isInteger(x) && x >= 0);
}

/**
 * Interprets a Register/Update link list: `</>;rt="oma.lwm2m";ct=110` sets the root path and formats;
 * `</1/0>`, `</3>;ver=1.1`, `</lwm2m/5/0>` (under the root) become objects. Other links are ignored.
 */
export function objectLinksFromRegistration(links: readonly Link[]): RegistrationObjects {
  let rootPath = '/';
  let contentFormats: number[] | undefined;
  for (const link of links) {
    const rt = link.params.rt;
    if (typeof rt === 'string' && rt.split(/\s+/).includes('oma.lwm2m')) {
      rootPath = normalizeRoot(link.uri);
      if (link.params.ct !== undefined) contentFormats = parseCt(link.params.ct);
    }
  }
  const objects: RegisteredObject[] = [];
  for (const link of links) {
    const rt = link.params.rt;
    if (typeof rt === 'string' && rt.split(/\s+/).includes('oma.lwm2m')) continue;
    let uri = link.uri;
    if (rootPath !== '/') {
      if (uri !== rootPath && !uri.startsWith(rootPath + '/')) continue;
      uri = uri.slice(rootPath.length);
    }
    const segs = uri.split('/').filter((s) => s !== '');
    if (segs.length < 1 || segs.length > 2 || !segs.every((s) => /^\d{1,5}$/.test(s))) continue;
    const objectId = Number(segs[0]);
    const instanceId = segs[1] === undefined ? undefined : Number(segs[1]);
    if (objectId > 65535 || (instanceId !== undefined && instanceId > 65535)) continue;
    const ver = link.params.ver;
    objects.push({
      objectId,
      ...(instanceId === undefined ? {} : { instanceId }),
      ...(typeof ver === 'string' ? { version: ver } : {}),
    });
  }
  return { rootPath, objects, ...(contentFormats === undefined ? {} : { contentFormats }) };
}

function normalizeRoot(uri: string): string {
  const trimmed = uri.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}
