import { isSafeFileName } from '../file-name.js';

export const BINARIES_PREFIX = '/binaries/';

export type FirmwareRequestTarget =
  | { readonly kind: 'not-ours' }
  | { readonly kind: 'refused' }
  | { readonly kind: 'file'; readonly fileName: string; readonly query: URLSearchParams };

/**
 * Maps a raw request-target to a firmware file name. The name is percent-decoded once and must
 * then be a safe file name, so encoded `..`, `%2f`, backslashes, NUL and absolute paths are refused
 * before any catalog lookup (and the catalog would not know them anyway).
 */
export function parseFirmwareTarget(rawUrl: string | undefined): FirmwareRequestTarget {
  if (rawUrl === undefined) return { kind: 'not-ours' };
  const queryAt = rawUrl.indexOf('?');
  const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  if (path === '/binaries') return { kind: 'refused' };
  if (!path.startsWith(BINARIES_PREFIX)) return { kind: 'not-ours' };
  let fileName: string;
  try {
    fileName = decodeURIComponent(path.slice(BINARIES_PREFIX.length));
  } catch {
    return { kind: 'refused' };
  }
  if (!isSafeFileName(fileName)) return { kind: 'refused' };
  const query = new URLSearchParams(queryAt === -1 ? '' : rawUrl.slice(queryAt + 1));
  return { kind: 'file', fileName, query };
}
