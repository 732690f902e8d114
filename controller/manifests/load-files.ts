import type { Dir } from 'node:fs';
import { open, opendir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

import type { Problem } from './problem.js';

/** Larger manifest files are refused whole: no real manifest set needs them, and parsing them costs memory. */
export const DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024;
/**
 * Files and directories (all kinds, dot entries excepted) under the manifests directory. A
 * manifests repository holds hundreds; past this the set is refused instead of walked, read and
 * watched (a checked-in copy of a vendor tree, a link farm), so memory and watches stay bounded.
 */
export const DEFAULT_MAX_ENTRIES = 10_000;
const MANIFEST_EXTENSION = /\.ya?ml$/i;

/** What a walk of the manifests directory found; the files to read and the directories to watch. */
export interface Listing {
  /** Every *.yaml / *.yml file to read, as absolute paths in sorted order. */
  readonly files: readonly string[];
  /** Every directory walked, the root first: exactly what a watcher must watch. */
  readonly directories: readonly string[];
  /** The set cannot be loaded as it is (missing root, too many entries, a link outside). */
  readonly problems: readonly Problem[];
  readonly warnings: readonly Problem[];
}

/**
 * Walks `dir`, skipping entries whose name starts with '.' (.git, editor swap files). Symbolic
 * links to directories are never followed (a `loop -> .` or a link to /usr would multiply the
 * walk): each gives a warning. A link to a file is read only when its target is inside the
 * manifests directory; one that points outside is a problem, as the loader reads nothing outside
 * its directory (Argo CD and Flux refuse such links too). More than `maxEntries` entries stop the
 * walk with a problem naming the cap.
 */
export async function listManifestFiles(dir: string, maxEntries = DEFAULT_MAX_ENTRIES): Promise<Listing> {
  const root = path.resolve(dir);
  let realRoot: string;
  try {
    const info = await stat(root);
    if (!info.isDirectory()) {
      return failed(
        atFile(
          root,
          'not a directory: give the manifests directory (Rollouts name groups and firmware in other files)',
        ),
      );
    }
    realRoot = await realpath(root);
  } catch (error) {
    return failed(atFile(root, `cannot read manifests directory: ${errorCode(error)}`));
  }
  const walk = new Walk(root, realRoot, maxEntries);
  await walk.directory(root);
  walk.files.sort();
  return {
    files: walk.files,
    directories: walk.directories,
    problems: walk.problems,
    warnings: walk.warnings,
  };
}

function failed(problem: Problem): Listing {
  return { files: [], directories: [], problems: [problem], warnings: [] };
}

class Walk {
  readonly files: string[] = [];
  readonly directories: string[] = [];
  readonly problems: Problem[] = [];
  readonly warnings: Problem[] = [];
  private entries = 0;

  constructor(
    private readonly root: string,
    private readonly realRoot: string,
    private readonly maxEntries: number,
  ) {}

  private get full(): boolean {
    return this.entries > this.maxEntries;
  }

  async directory(dir: string): Promise<void> {
    let handle: Dir;
    try {
      handle = await opendir(dir);
    } catch {
      return; // removed while listing: the next watch event reloads
    }
    this.directories.push(dir);
    const subdirectories: string[] = [];
    try {
      for await (const entry of handle) {
        if (entry.name.startsWith('.')) continue;
        this.entries += 1;
        if (this.full) {
          this.problems.push(
            atFile(
              dir,
              `more than ${this.maxEntries} files and directories under the manifests directory ${this.root}; ` +
                'it is not read or watched past that limit: keep only manifests there (or point --manifests at a subdirectory)',
            ),
          );
          break; // leaving the loop closes the directory
        }
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) subdirectories.push(full);
        else if (entry.isSymbolicLink()) await this.link(full, entry.name);
        else if (entry.isFile() && MANIFEST_EXTENSION.test(entry.name)) this.files.push(full);
      }
    } catch {
      return; // removed while listing
    }
    for (const sub of subdirectories) {
      if (this.full) return;
      await this.directory(sub);
    }
  }

  private async link(file: string, name: string): Promise<void> {
    let target: string;
    let isDirectory: boolean;
    try {
      target = await realpath(file);
      isDirectory = (await stat(target)).isDirectory();
    } catch (error) {
      if (MANIFEST_EXTENSION.test(name))
        this.warnings.push(atFile(file, `symbolic link to nothing (${errorCode(error)}); skipped`));
      return;
    }
    if (isDirectory) {
      this.warnings.push(
        atFile(
          file,
          `symbolic link to a directory (${target}) is not followed; manifests are read from real directories only`,
        ),
      );
    } else if (MANIFEST_EXTENSION.test(name)) {
      const relative = path.relative(this.realRoot, target);
      if (relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
        this.problems.push(
          atFile(
            file,
            `symbolic link to ${target}, outside the manifests directory ${this.root}; ` +
              'no file outside it is read: copy the file in or link within the directory',
          ),
        );
      } else {
        this.files.push(file);
      }
    }
  }
}

export type ReadResult =
  | { readonly kind: 'ok'; readonly text: string }
  | { readonly kind: 'error'; readonly problem: Problem };

/**
 * The file as UTF-8 text, refusing files over `maxBytes` (read at most maxBytes + 1 bytes, so
 * a file growing while read is caught too), binary content and files that vanish meanwhile.
 */
export async function readManifestFile(file: string, maxBytes = DEFAULT_MAX_FILE_BYTES): Promise<ReadResult> {
  let handle: import('node:fs/promises').FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    return { kind: 'error', problem: atFile(file, describeReadError(error)) };
  }
  try {
    const info = await handle.stat();
    if (info.size > maxBytes) {
      return { kind: 'error', problem: atFile(file, tooLarge(info.size, maxBytes)) };
    }
    const buffer = Buffer.alloc(Math.min(info.size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) return { kind: 'error', problem: atFile(file, tooLarge(length, maxBytes)) };
    return decode(file, buffer.subarray(0, length));
  } catch (error) {
    return { kind: 'error', problem: atFile(file, describeReadError(error)) };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function decode(file: string, bytes: Buffer): ReadResult {
  const nul = bytes.indexOf(0);
  if (nul !== -1)
    return {
      kind: 'error',
      problem: atOffset(file, bytes, nul, 'binary content (NUL byte); not a YAML file'),
    };
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return { kind: 'ok', text: text.startsWith('\uFEFF') ? text.slice(1) : text };
  } catch {
    return { kind: 'error', problem: atFile(file, 'not valid UTF-8; not a YAML file') };
  }
}

function atOffset(file: string, bytes: Buffer, offset: number, message: string): Problem {
  const before = bytes.subarray(0, offset);
  let line = 1;
  let lineStart = 0;
  for (let i = before.indexOf(10); i !== -1; i = before.indexOf(10, i + 1)) {
    line += 1;
    lineStart = i + 1;
  }
  return { file, line, col: offset - lineStart + 1, message };
}

function tooLarge(size: number, maxBytes: number): string {
  return `file too large (${size} bytes, limit ${maxBytes}); manifests are small text files`;
}

function describeReadError(error: unknown): string {
  const code = errorCode(error);
  if (code === 'ENOENT') return 'file disappeared while reading';
  if (code === 'EISDIR') return 'is a directory';
  return `cannot read file: ${code}`;
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string')
    return error.code;
  return error instanceof Error ? error.message : String(error);
}

export function atFile(file: string, message: string): Problem {
  return { file, line: 1, col: 1, message };
}
