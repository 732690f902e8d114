const SEGMENT = /^[A-Za-z0-9_+~-][A-Za-z0-9._+~-]*$/;
const MAX_FILE_NAME_BYTES = 200;

/**
 * Whether a firmware file name is safe to serve and to put in a URI: `/`-separated segments of
 * unreserved characters, no `.`/`..` segment, no leading dot, no backslash, NUL or percent sign.
 * Both the catalog builder and the request parsers use it, so a name that would need escaping
 * (and could thus be smuggled past a check) never reaches the file system.
 */
export function isSafeFileName(name: string): boolean {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) return false;
  return name.split('/').every((segment) => SEGMENT.test(segment));
}
