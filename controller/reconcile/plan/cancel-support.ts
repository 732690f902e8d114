import { objectLinksFromRegistration, parseLinkFormat } from '../../lwm2m/link-format.js';

/** By link body: a fleet registers with few distinct bodies. */
const byLinks = new Map<string, boolean>();
const CACHE_BOUND = 256;

/**
 * Whether a device's object 5 has Cancel (5/0/10), from the object links it registered with.
 * Cancel came with version 1.1 of the Firmware Update object (LwM2M 1.2); a device that registers
 * object 5 without `ver` has version 1.0 and no Cancel. A device that answers Cancel with 4.04 or
 * 4.05 anyway is reset with an empty Package URI instead.
 */
export function hasFirmwareCancel(objectLinks: string | null): boolean {
  if (objectLinks === null) return false;
  let has = byLinks.get(objectLinks);
  if (has === undefined) {
    const parsed = parseLinkFormat(objectLinks);
    has =
      parsed.ok &&
      objectLinksFromRegistration(parsed.links).objects.some(
        (o) => o.objectId === 5 && o.version !== undefined && versionAtLeast(o.version, 1, 1),
      );
    if (byLinks.size >= CACHE_BOUND) byLinks.clear();
    byLinks.set(objectLinks, has);
  }
  return has;
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const match = /^(\d+)\.(\d+)$/.exec(version.trim());
  if (match === null) return false;
  const [a, b] = [Number(match[1]), Number(match[2])];
  return a > major || (a === major && b >= minor);
}
