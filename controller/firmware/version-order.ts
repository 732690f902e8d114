/**
 * The one order of firmware versions, used by `validate`, `plan` and the controller.
 *
 * - Semantic Versioning 2.0.0 precedence (semver.org §11): major, minor, patch compared as
 *   numbers; a prerelease sorts before its release; prerelease identifiers compare one by one,
 *   numeric ones as numbers and below alphanumeric ones, which compare in ASCII order, and a
 *   shorter list sorts first when all before it are equal.
 * - Build metadata (`+...`) is ignored: `2.0.0+build.5` ranks equal to `2.0.0`.
 * - A leading lowercase `v` is tolerated: `v2.0.0` ranks equal to `2.0.0`.
 * - Anything else (`1.2`, `2.0.0.1`, `R12`, `01.2.3`, a version longer than
 *   MAX_ORDERED_VERSION_LENGTH) is not ordered against any other version: whether moving to or
 *   from it goes up or down is unknown, so it needs `allowDowngrade: true` like a downgrade.
 *
 * Ranking equal is not being the same version: a device is on its target only when it reports
 * exactly the target's string, so a device on `2.0.0+build.4` is updated to `2.0.0+build.5`
 * without `allowDowngrade` (neither is lower).
 *
 * The database holds the same order as a sortable key (migration 0008, `otactl_version_key`);
 * test/firmware/version-order.test.ts checks both against one table of cases.
 */

/** Longer versions are not ordered (a numeric identifier's length is stored in two digits in SQL). */
export const MAX_ORDERED_VERSION_LENGTH = 99;

const NUMBER = '0|[1-9][0-9]*';
const PRERELEASE_IDENTIFIER = `${NUMBER}|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*`;
/** semver.org's pattern with an optional leading `v`; migration 0008 holds a copy. */
export const SEMVER_PATTERN =
  `^v?(${NUMBER})[.](${NUMBER})[.](${NUMBER})` +
  `(?:-((?:${PRERELEASE_IDENTIFIER})(?:[.](?:${PRERELEASE_IDENTIFIER}))*))?` +
  '(?:[+][0-9a-zA-Z-]+(?:[.][0-9a-zA-Z-]+)*)?$';
const SEMVER = new RegExp(SEMVER_PATTERN);

export interface ParsedVersion {
  readonly major: string;
  readonly minor: string;
  readonly patch: string;
  /** Empty for a release. */
  readonly prerelease: readonly string[];
}

/** The parts that decide precedence, or undefined when `version` is not ordered. */
export function parseVersion(version: string): ParsedVersion | undefined {
  if (version.length > MAX_ORDERED_VERSION_LENGTH) return undefined;
  const match = SEMVER.exec(version);
  if (!match) return undefined;
  const [, major = '', minor = '', patch = '', prerelease] = match;
  return { major, minor, patch, prerelease: prerelease === undefined ? [] : prerelease.split('.') };
}

export type VersionOrder = 'lower' | 'equal' | 'higher' | 'unordered';

/** How `a` ranks against `b`. */
export function orderVersions(a: string, b: string): VersionOrder {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) return 'unordered';
  const sign =
    compareNumbers(x.major, y.major) ||
    compareNumbers(x.minor, y.minor) ||
    compareNumbers(x.patch, y.patch) ||
    comparePrereleases(x.prerelease, y.prerelease);
  return sign < 0 ? 'lower' : sign > 0 ? 'higher' : 'equal';
}

/**
 * Whether moving a device from `from` (what it reports; null when unknown) to `to` needs
 * `allowDowngrade: true`: `to` ranks lower, or the two cannot be ordered. The same version string
 * never does.
 */
export function needsAllowDowngrade(from: string | null, to: string): boolean {
  if (from === to) return false;
  if (from === null) return true;
  const order = orderVersions(to, from);
  return order === 'lower' || order === 'unordered';
}

/** Decimal digits without leading zeros: the longer is larger, equal lengths compare as text. */
function compareNumbers(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

const isNumeric = (identifier: string) => /^[0-9]+$/.test(identifier);

function comparePrereleases(a: readonly string[], b: readonly string[]): number {
  // A release (no identifiers) ranks above every prerelease of it.
  if (a.length === 0 || b.length === 0) return b.length - a.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    const sign =
      isNumeric(x) && isNumeric(y)
        ? compareNumbers(x, y)
        : isNumeric(x) !== isNumeric(y)
          ? isNumeric(x)
            ? -1
            : 1
          : x < y
            ? -1
            : x > y
              ? 1
              : 0;
    if (sign !== 0) return sign;
  }
  return a.length - b.length;
}
