import { createHash } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import type { FirmwareFile } from './catalog.js';
import { openFirmware } from './open-firmware.js';

/**
 * A firmware file's bytes for a download:
 * - `ok`: read once, its sha256 checked against the catalog's, and the file on disk is still that one;
 * - `from-disk`: too large to keep in memory: the server reads the file itself (`openFirmware`);
 * - `refused`: missing, moved, no longer a regular file, or not the content the catalog hashed.
 */
export type FirmwareImage =
  | { readonly kind: 'ok'; readonly bytes: Buffer }
  | { readonly kind: 'from-disk' }
  | { readonly kind: 'refused'; readonly reason: 'missing' | 'moved' | 'changed' | 'not-a-file' };

export interface FirmwareImageCacheOptions {
  /** Bytes all cached images may hold together; the least recently served go first. Default 128 MiB. */
  readonly maxBytes?: number;
  /** A larger file is never cached: it is read from disk per download. Default 32 MiB. */
  readonly maxImageBytes?: number;
}

export interface FirmwareImageCacheStats {
  readonly images: number;
  readonly bytes: number;
  /** Files read from disk into the cache since it was created. */
  readonly loads: number;
}

export interface FirmwareImageCache {
  image(file: FirmwareFile): Promise<FirmwareImage>;
  stats(): FirmwareImageCacheStats;
}

export const DEFAULT_IMAGE_CACHE_BYTES = 128 * 1024 * 1024;
export const DEFAULT_MAX_CACHED_IMAGE_BYTES = 32 * 1024 * 1024;

interface Entry {
  readonly sha256: string;
  readonly bytes: Buffer;
  readonly dev: number;
  readonly ino: number;
  readonly mtimeMs: number;
  /** The identity check in flight: requests arriving meanwhile share its answer. */
  check?: Promise<boolean>;
}

/**
 * Keeps verified firmware images in memory, so a burst of downloads costs one read of each file
 * instead of a realpath, open, stat, read and close per HTTP request or CoAP block. Each request
 * still checks, with one `lstat` shared by the requests that arrive while it runs, that the path
 * is the same regular file (device, inode, size, mtime) that was read: a file swapped, rewritten
 * or removed is refused from the next check on, as `openFirmware` refuses it. What is served is
 * always the content whose sha256 the catalog holds, never bytes that changed on disk unseen.
 */
export function createFirmwareImageCache(options: FirmwareImageCacheOptions = {}): FirmwareImageCache {
  const maxBytes = options.maxBytes ?? DEFAULT_IMAGE_CACHE_BYTES;
  const maxImageBytes = Math.min(options.maxImageBytes ?? DEFAULT_MAX_CACHED_IMAGE_BYTES, maxBytes);
  // Map order is recency: an entry served is moved to the end, the first is evicted first.
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<FirmwareImage>>();
  let bytes = 0;
  let loads = 0;

  const drop = (path: string): void => {
    const entry = entries.get(path);
    if (entry === undefined) return;
    entries.delete(path);
    bytes -= entry.bytes.length;
  };

  const stillSameFile = (entry: Entry, path: string): Promise<boolean> => {
    entry.check ??= lstat(path)
      .then(
        (s) =>
          s.isFile() &&
          s.dev === entry.dev &&
          s.ino === entry.ino &&
          s.size === entry.bytes.length &&
          s.mtimeMs === entry.mtimeMs,
        () => false,
      )
      .finally(() => {
        entry.check = undefined;
      });
    return entry.check;
  };

  const load = async (file: FirmwareFile): Promise<FirmwareImage> => {
    const opened = await openFirmware(file);
    if (opened.kind === 'refused') return opened;
    loads++;
    let content: Buffer;
    let identity: { dev: number; ino: number; mtimeMs: number };
    try {
      const s = await opened.handle.stat();
      identity = { dev: s.dev, ino: s.ino, mtimeMs: s.mtimeMs };
      content = await opened.handle.readFile();
    } finally {
      await opened.handle.close();
    }
    if (createHash('sha256').update(content).digest('hex') !== file.sha256) {
      return { kind: 'refused', reason: 'changed' };
    }
    drop(file.absolutePath);
    while (bytes + content.length > maxBytes) {
      const oldest = entries.keys().next();
      if (oldest.done) break;
      drop(oldest.value);
    }
    entries.set(file.absolutePath, { sha256: file.sha256, bytes: content, ...identity });
    bytes += content.length;
    return { kind: 'ok', bytes: content };
  };

  return {
    async image(file) {
      if (file.size > maxImageBytes) return { kind: 'from-disk' };
      const path = file.absolutePath;
      const entry = entries.get(path);
      if (entry !== undefined && entry.sha256 === file.sha256) {
        if (await stillSameFile(entry, path)) {
          if (entries.get(path) === entry) {
            entries.delete(path);
            entries.set(path, entry);
          }
          return { kind: 'ok', bytes: entry.bytes };
        }
        if (entries.get(path) === entry) drop(path);
      }
      const key = `${path}\0${file.sha256}`;
      let pending = loading.get(key);
      if (pending === undefined) {
        pending = load(file).finally(() => loading.delete(key));
        loading.set(key, pending);
      }
      return pending;
    },
    stats: () => ({ images: entries.size, bytes, loads }),
  };
}
