/** A request target read at the edge: every text the routes may look up is storable, or why not. */
export type RequestTarget =
  | { readonly kind: 'ok'; readonly url: URL }
  | { readonly kind: 'invalid'; readonly error: string };

/**
 * Parses the request target and refuses text the database cannot hold as sent (a NUL byte, or
 * percent-encoding that is not UTF-8) in the path or in any query parameter, so no route ever
 * passes it to a query: one check for every route, answered 400 with the reason.
 */
export function readRequestTarget(target: string): RequestTarget {
  let url: URL;
  try {
    url = new URL(target, 'http://localhost');
  } catch {
    return { kind: 'invalid', error: 'malformed request target' };
  }
  for (const segment of url.pathname.split('/')) {
    const why = unstorable(segment);
    if (why) return { kind: 'invalid', error: `path segment "${shown(segment)}" ${why}` };
  }
  // URLSearchParams would quietly turn bytes that are not UTF-8 into U+FFFD: read the raw pairs.
  for (const pair of url.search.slice(1).split('&')) {
    const at = pair.indexOf('=');
    const name = at === -1 ? pair : pair.slice(0, at);
    const why = unstorable(name.replaceAll('+', ' ')) ?? unstorable(pair.slice(at + 1).replaceAll('+', ' '));
    if (why) return { kind: 'invalid', error: `query parameter "${shown(name)}" ${why}` };
  }
  return { kind: 'ok', url };
}

/** Why percent-encoded `text` cannot be stored or looked up as sent, or undefined. */
function unstorable(text: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    return 'is not valid percent-encoded UTF-8';
  }
  if (decoded.includes('\0')) return 'contains a NUL byte (%00), which no stored name or value can hold';
  return undefined;
}

/** Enough of a (percent-encoded) piece of the target to find it again, not an echo of 8 KB. */
function shown(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}
