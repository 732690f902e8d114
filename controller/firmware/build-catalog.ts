import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { catalogFromFiles, type FirmwareFile, type ListableFirmwareCatalog } from './catalog.js';
import { sha256File } from './file-hash.js';
import { isSafeFileName } from './file-name.js';
import { defaultHashCache, type HashCache } from './hash-cache.js';

/** A file a Firmware manifest declares, with the digest it promises. */
export interface DeclaredFirmwareFile {
  readonly file: string;
  readonly sha256: string;
}

export const CATALOG_PROBLEM_KINDS = [
  'invalid-name',
  'missing',
  'outside-dir',
  'not-a-file',
  'sha256-mismatch',
  'unreadable',
] as const;
export type CatalogProblemKind = (typeof CATALOG_PROBLEM_KINDS)[number];

export interface CatalogProblem {
  readonly kind: CatalogProblemKind;
  readonly file: string;
  readonly message: string;
}

export interface BuildCatalogResult {
  readonly catalog: ListableFirmwareCatalog;
  readonly problems: readonly CatalogProblem[];
}

export interface BuildCatalogOptions {
  readonly hashCache?: HashCache;
}

type Checked = { readonly kind: 'ok'; readonly file: FirmwareFile } | CatalogProblem;

/**
 * Checks every declared file (inside `dir`, a regular file, the promised sha256) and returns a
 * catalog of the ones that passed plus one problem per one that did not. Never throws for a bad file.
 */
export async function buildFirmwareCatalog(
  dir: string,
  entries: readonly DeclaredFirmwareFile[],
  options: BuildCatalogOptions = {},
): Promise<BuildCatalogResult> {
  const cache = options.hashCache ?? defaultHashCache;
  const root = await realpath(dir);
  const checked = await Promise.all(entries.map((entry) => checkEntry(root, entry, cache)));
  const files: FirmwareFile[] = [];
  const problems: CatalogProblem[] = [];
  for (const result of checked) {
    if (result.kind === 'ok') files.push(result.file);
    else problems.push(result);
  }
  return { catalog: catalogFromFiles(root, files), problems };
}

function problem(kind: CatalogProblemKind, file: string, message: string): CatalogProblem {
  return { kind, file, message };
}

export function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

async function checkEntry(root: string, entry: DeclaredFirmwareFile, cache: HashCache): Promise<Checked> {
  const { file } = entry;
  if (!isSafeFileName(file)) {
    return problem('invalid-name', file, `firmware file name "${file}" is not a plain relative name`);
  }
  let real: string;
  try {
    real = await realpath(join(root, file));
  } catch {
    return problem('missing', file, `firmware file "${file}" does not exist in ${root}`);
  }
  if (!isInside(root, real)) {
    return problem('outside-dir', file, `firmware file "${file}" resolves outside ${root}`);
  }
  try {
    const stats = await stat(real);
    if (!stats.isFile()) return problem('not-a-file', file, `firmware file "${file}" is not a regular file`);
    let digest = cache.get(real, stats);
    if (digest === undefined) {
      digest = await sha256File(real);
      cache.set(real, stats, digest);
    }
    const expected = entry.sha256.trim().toLowerCase();
    if (digest !== expected) {
      return problem(
        'sha256-mismatch',
        file,
        `firmware file "${file}" has sha256 ${digest}, the manifest declares ${expected}`,
      );
    }
    return {
      kind: 'ok',
      file: { fileName: file, absolutePath: real, sha256: digest, size: stats.size, mtimeMs: stats.mtimeMs },
    };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return problem('unreadable', file, `firmware file "${file}" cannot be read: ${reason}`);
  }
}
