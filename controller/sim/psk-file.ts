import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { formatCredentialFile, parseCredentialFile } from '../credentials/credential-file.js';
import { type PskCredential, PskKey } from '../credentials/index.js';
import type { PskCredentials } from '../dtls/index.js';

export type PskFileResult =
  | { readonly ok: true; readonly psk: ReadonlyMap<string, PskCredentials> }
  | { readonly ok: false; readonly error: string };

/** Reads a credentials file (the format `otactl credentials import` reads) as the fleet's keys by endpoint. */
export async function readPskFile(path: string): Promise<PskFileResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    return { ok: false, error: `cannot read ${path}: ${(error as Error).message}` };
  }
  const parsed = parseCredentialFile(bytes);
  if (!parsed.ok) {
    const lines = parsed.problems
      .slice(0, 5)
      .map((p) => `  line ${p.line}${p.field === undefined ? '' : ` (${p.field})`}: ${p.reason}`);
    return { ok: false, error: `${path} is not a credentials file:\n${lines.join('\n')}` };
  }
  return { ok: true, psk: fleetKeys(parsed.entries.map((e) => e.credential)) };
}

/** A random 128-bit key for each endpoint, its identity the endpoint name. */
export function generateCredentials(endpoints: readonly string[]): PskCredential[] {
  return endpoints.map((endpoint) => ({ endpoint, identity: endpoint, key: new PskKey(randomBytes(16)) }));
}

/** The fleet's keys by endpoint, as `startFleet` takes them. */
export function fleetKeys(credentials: readonly PskCredential[]): ReadonlyMap<string, PskCredentials> {
  return new Map(
    credentials.map((c) => [c.endpoint, { identity: Buffer.from(c.identity, 'utf8'), key: c.key.bytes() }]),
  );
}

/**
 * Writes a random 128-bit key for each endpoint, its identity the endpoint name, in the credentials
 * file format (CSV), readable by its owner only; refuses to overwrite a file.
 */
export async function writePskFile(path: string, endpoints: readonly string[]): Promise<void> {
  const text = formatCredentialFile(generateCredentials(endpoints));
  await writeFile(path, text, { mode: 0o600, flag: 'wx' });
}
