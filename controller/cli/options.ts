import { InvalidArgumentError, Option } from 'commander';

export const DEFAULT_DB_PATH = './.otactl/db';

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

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`not a port number: ${value}`);
  }
  return port;
}

/** A count flag: a whole number from 1 to 1,000,000. */
export function parseCount(value: string): number {
  return parseWhole(value, 1);
}

/** A bound that may be 0 (none allowed): a whole number from 0 to 1,000,000. */
export function parseBound(value: string): number {
  return parseWhole(value, 0);
}

function parseWhole(value: string, min: number): number {
  const count = Number(value);
  if (!/^\d+$/.test(value) || count < min || count > 1_000_000) {
    throw new InvalidArgumentError(`expected a whole number from ${min} to 1000000, got "${value}"`);
  }
  return count;
}
