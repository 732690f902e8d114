import { Option } from 'commander';
import { parseDuration } from '../manifests/index.js';
import { UserError } from './user-error.js';

export const DEFAULT_DB_PATH = './.otactl/db';

/** HTTPS firmware port when `run --tls-dir` is given without `--https-port`. */
export const DEFAULT_HTTPS_PORT = 8443;

/** Exit status of a command line the operator must fix (a bad flag or value), as in most CLIs. */
export const USAGE_EXIT_CODE = 2;

/** A flag with a value it cannot take: one line, `--flag: problem`, exit 2. */
export class FlagError extends UserError {
  constructor(flag: string, problem: string) {
    super(`${flag}: ${problem}`, USAGE_EXIT_CODE);
    this.name = 'FlagError';
  }
}

/** `--db memory|PATH|postgres://...`; falls back to DATABASE_URL, then the embedded default. */
export function dbOption(): Option {
  return new Option(
    '--db <spec>',
    `database: "memory", a PGlite data directory, or a postgres:// URL (default: DATABASE_URL, else ${DEFAULT_DB_PATH})`,
  );
}

export function resolveDbSpec(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.DATABASE_URL ?? DEFAULT_DB_PATH;
}

/*
 * Every flag taking a port, a count or a duration is declared through the factories below: its
 * value is checked once, while the command line is parsed, and a bad one is a FlagError naming
 * the flag, before anything is opened or bound.
 */

/** A TCP/UDP port, 0 (any free port) to 65535; `off` too when `allowOff`. */
export function parsePort(flag: string, value: string, allowOff = false): number | 'off' {
  if (allowOff && value === 'off') return 'off';
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new FlagError(flag, `not a port number (0 to 65535${allowOff ? ", or 'off'" : ''}): ${value}`);
  }
  return port;
}

/** A whole number from `min` to `max`. */
export function parseWhole(flag: string, value: string, min: number, max: number): number {
  const count = Number(value);
  if (!/^\d+$/.test(value) || count < min || count > max) {
    throw new FlagError(flag, `expected a whole number from ${min} to ${max}, got "${value}"`);
  }
  return count;
}

/** A duration (`30s`, `5m`, `1h30m`, `500ms`) in milliseconds, at least `minMs`. */
export function parseDurationFlag(flag: string, value: string, minMs = 1): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new FlagError(flag, `not a duration (e.g. 500ms, 30s, 5m, 1h): ${value}`);
  if (ms < minMs)
    throw new FlagError(flag, `must be ${minMs === 1 ? 'more than 0' : `at least ${minMs} ms`}: ${value}`);
  return ms;
}

function flagName(option: Option): string {
  return option.long ?? option.flags;
}

/** A port flag; its value is a number (or `'off'` with `allowOff`). */
export function portOption(
  flags: string,
  description: string,
  options: { default?: number | 'off'; allowOff?: boolean } = {},
): Option {
  const option = new Option(flags, description);
  option.argParser((value: string) => parsePort(flagName(option), value, options.allowOff));
  if (options.default !== undefined) option.default(options.default);
  return option;
}

/** A count flag: a whole number from `min` (default 1) to `max` (default 1,000,000). */
export function countOption(
  flags: string,
  description: string,
  options: { default?: number; min?: number; max?: number } = {},
): Option {
  const option = new Option(flags, description);
  const min = options.min ?? 1;
  const max = options.max ?? 1_000_000;
  option.argParser((value: string) => parseWhole(flagName(option), value, min, max));
  if (options.default !== undefined) option.default(options.default);
  return option;
}

/**
 * A duration flag; its value is milliseconds. `default` is a duration string, shown as written
 * in `--help`. A bare `--flag [ttl]` whose value is optional gives true (no preset: commander
 * would print it as `(preset: "1h")` after the description that says it).
 */
export function durationOption(
  flags: string,
  description: string,
  options: { default?: string } = {},
): Option {
  const option = new Option(flags, description);
  option.argParser((value: string) => parseDurationFlag(flagName(option), value));
  if (options.default !== undefined) {
    option.default(parseDurationFlag(flagName(option), options.default), options.default);
  }
  return option;
}
