import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

import type { Problem } from './problem.js';

/** Larger manifest files are refused whole: no real manifest set needs them, and parsing them costs memory. */
export const DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024;
const MANIFEST_EXTENSION = /\.ya?ml$/i;

export type ListResult =
  | { readonly kind: 'ok'; readonly files: readonly string[] }
  | { readonly kind: 'error'; readonly problem: Problem };

/**
 * Every *.yaml / *.yml file under `dir`, recursively, as absolute paths in sorted order.
 * Entries whose name starts with '.' (.git, editor swap files) are skipped; symbolic links
 * to files are followed, to directories not (no cycles).
 */
export async function listManifestFiles(dir: string): Promise<ListResult> {
  const root = path.resolve(dir);
  try {
    const info = await stat(root);
    if (!info.isDirectory()) return { kind: 'error', problem: atFile(root, 'not a directory') };
  } catch (error) {
    return { kind: 'error', problem: atFile(root, `cannot read manifests directory: ${errorCode(error)}`) };
  }
  const files: string[] = [];
  await walk(root, files);
  files.sort();
  return { kind: 'ok', files };
}

async function walk(dir: string, out: string[]): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return; // removed while listing: the next watch event reloads
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      await walk(full, out);
    } else if (MANIFEST_EXTENSION.test(entry.name)) {
      if (entry.isFile()) out.push(full);
      else if (entry.isSymbolicLink() && (await isFile(full))) out.push(full);
    }
  }
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
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
