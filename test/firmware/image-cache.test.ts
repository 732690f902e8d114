import { rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildFirmwareCatalog } from '../../controller/firmware/build-catalog.js';
import type { FirmwareFile } from '../../controller/firmware/catalog.js';
import { createFirmwareImageCache } from '../../controller/firmware/image-cache.js';
import { type FirmwareDir, makeFirmwareDir, writeImage } from './helpers.js';

let fw: FirmwareDir;

beforeEach(async () => {
  fw = await makeFirmwareDir();
});

afterEach(async () => {
  await fw.remove();
});

/** A whole second, so that an mtime set again later is exactly the same (Date would round it). */
const MTIME_S = 1_700_000_000;

async function declared(name: string, size: number): Promise<{ file: FirmwareFile; data: Buffer }> {
  const image = await writeImage(fw.dir, name, size);
  await utimes(join(fw.dir, name), MTIME_S, MTIME_S);
  const { catalog, problems } = await buildFirmwareCatalog(fw.dir, [{ file: name, sha256: image.sha256 }]);
  expect(problems).toEqual([]);
  const file = catalog.lookup(name);
  if (file === undefined) throw new Error(`${name} not in the catalog`);
  return { file, data: image.data };
}

/** Rewrites a file in place with other bytes of the same size and gives it back its mtime. */
async function rewriteKeepingSizeAndMtime(path: string, size: number): Promise<void> {
  const before = await stat(path);
  await writeFile(path, Buffer.alloc(size, 0x5a));
  await utimes(path, MTIME_S, MTIME_S);
  const after = await stat(path);
  expect([after.ino, after.size, after.mtimeMs]).toEqual([before.ino, before.size, before.mtimeMs]);
}

describe('firmware image cache', () => {
  it('reads a file once for any number of downloads, concurrent or not', async () => {
    const { file, data } = await declared('a.bin', 5000);
    const cache = createFirmwareImageCache();
    const first = await Promise.all(Array.from({ length: 50 }, () => cache.image(file)));
    const later = await cache.image(file);
    for (const image of [...first, later]) {
      expect(image.kind).toBe('ok');
      if (image.kind === 'ok') expect(image.bytes.equals(data)).toBe(true);
    }
    expect(cache.stats()).toEqual({ images: 1, bytes: 5000, loads: 1 });
  });

  it('never serves bytes other than those the catalog hashed, even when size and mtime still match', async () => {
    const { file } = await declared('forged.bin', 300);
    await rewriteKeepingSizeAndMtime(join(fw.dir, 'forged.bin'), 300);
    const cache = createFirmwareImageCache();
    expect(await cache.image(file)).toEqual({ kind: 'refused', reason: 'changed' });
    expect(cache.stats().images).toBe(0);
  });

  it('keeps serving the verified bytes it read when the file is rewritten unseen (same inode, size, mtime)', async () => {
    const { file, data } = await declared('kept.bin', 300);
    const cache = createFirmwareImageCache();
    expect((await cache.image(file)).kind).toBe('ok');
    await rewriteKeepingSizeAndMtime(join(fw.dir, 'kept.bin'), 300);
    const image = await cache.image(file);
    expect(image.kind === 'ok' && image.bytes.equals(data)).toBe(true);
    expect(cache.stats().loads).toBe(1);
  });

  it('refuses a cached file from the next download on once it changed, was removed or swapped for a symlink', async () => {
    const cache = createFirmwareImageCache();
    const changed = await declared('changed.bin', 100);
    const removed = await declared('removed.bin', 100);
    const swapped = await declared('swapped.bin', 100);
    for (const { file } of [changed, removed, swapped]) expect((await cache.image(file)).kind).toBe('ok');

    await writeFile(join(fw.dir, 'changed.bin'), Buffer.alloc(100, 1));
    await utimes(join(fw.dir, 'changed.bin'), MTIME_S + 5, MTIME_S + 5);
    await rm(join(fw.dir, 'removed.bin'));
    await symlink(join(fw.root, 'secret.txt'), join(fw.dir, 'link'));
    await rename(join(fw.dir, 'link'), join(fw.dir, 'swapped.bin'));

    expect(await cache.image(changed.file)).toEqual({ kind: 'refused', reason: 'changed' });
    expect(await cache.image(removed.file)).toEqual({ kind: 'refused', reason: 'missing' });
    expect(await cache.image(swapped.file)).toEqual({ kind: 'refused', reason: 'moved' });
    expect(cache.stats()).toMatchObject({ images: 0, bytes: 0 });
  });

  it('holds at most maxBytes, dropping the least recently served image first', async () => {
    const a = await declared('a.bin', 40);
    const b = await declared('b.bin', 40);
    const c = await declared('c.bin', 40);
    const cache = createFirmwareImageCache({ maxBytes: 100 });
    await cache.image(a.file);
    await cache.image(b.file);
    await cache.image(a.file);
    await cache.image(c.file);
    expect(cache.stats()).toEqual({ images: 2, bytes: 80, loads: 3 });
    // b was the least recently served: it is read again, a and c are not.
    await cache.image(a.file);
    expect(cache.stats().loads).toBe(3);
    await cache.image(b.file);
    expect(cache.stats()).toEqual({ images: 2, bytes: 80, loads: 4 });
  });

  it('leaves an image larger than maxImageBytes on disk', async () => {
    const big = await declared('big.bin', 2000);
    const cache = createFirmwareImageCache({ maxImageBytes: 1000 });
    expect(await cache.image(big.file)).toEqual({ kind: 'from-disk' });
    expect(cache.stats()).toEqual({ images: 0, bytes: 0, loads: 0 });
  });
});
