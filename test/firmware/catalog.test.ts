import { symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildFirmwareCatalog } from '../../controller/firmware/build-catalog.js';
import { createHashCache } from '../../controller/firmware/hash-cache.js';
import { type FirmwareDir, makeFirmwareDir, writeImage } from './helpers.js';

let fw: FirmwareDir;

beforeEach(async () => {
  fw = await makeFirmwareDir();
});

afterEach(async () => {
  await fw.remove();
});

describe('buildFirmwareCatalog', () => {
  it('catalogs declared files whose sha256 matches, with size and canonical path', async () => {
    const image = await writeImage(fw.dir, 'a.bin', 1234);
    const { catalog, problems } = await buildFirmwareCatalog(fw.dir, [
      { file: 'a.bin', sha256: image.sha256.toUpperCase() },
    ]);
    expect(problems).toEqual([]);
    expect(catalog.lookup('a.bin')).toMatchObject({ fileName: 'a.bin', sha256: image.sha256, size: 1234 });
    expect(catalog.lookup('a.bin')?.absolutePath.endsWith(join('fw', 'a.bin'))).toBe(true);
    expect(catalog.files()).toHaveLength(1);
  });

  it('leaves out and reports a file whose sha256 does not match', async () => {
    await writeImage(fw.dir, 'a.bin', 10);
    const { catalog, problems } = await buildFirmwareCatalog(fw.dir, [
      { file: 'a.bin', sha256: 'ab'.repeat(32) },
    ]);
    expect(catalog.lookup('a.bin')).toBeUndefined();
    expect(problems).toMatchObject([{ kind: 'sha256-mismatch', file: 'a.bin' }]);
  });

  it('reports missing files, unsafe names, directories and links leading out', async () => {
    await symlink(join(fw.root, 'secret.txt'), join(fw.dir, 'out.bin'));
    const { problems } = await buildFirmwareCatalog(fw.dir, [
      { file: 'missing.bin', sha256: '' },
      { file: '../secret.txt', sha256: '' },
      { file: '/etc/passwd', sha256: '' },
      { file: 'out.bin', sha256: '' },
      { file: '.', sha256: '' },
    ]);
    expect(problems.map((p) => p.kind)).toEqual([
      'missing',
      'invalid-name',
      'invalid-name',
      'outside-dir',
      'invalid-name',
    ]);
  });

  it('serves a link that stays inside the firmware directory under its declared name', async () => {
    const image = await writeImage(fw.dir, 'real.bin', 10);
    await symlink(join(fw.dir, 'real.bin'), join(fw.dir, 'alias.bin'));
    const { catalog, problems } = await buildFirmwareCatalog(fw.dir, [
      { file: 'alias.bin', sha256: image.sha256 },
    ]);
    expect(problems).toEqual([]);
    expect(catalog.lookup('alias.bin')?.absolutePath.endsWith('real.bin')).toBe(true);
  });

  it('skips re-hashing a file whose path, size and mtime are unchanged', async () => {
    const cache = createHashCache();
    const image = await writeImage(fw.dir, 'a.bin', 100);
    const mtime = new Date(Date.UTC(2026, 0, 1));
    await utimes(join(fw.dir, 'a.bin'), mtime, mtime);
    const first = await buildFirmwareCatalog(fw.dir, [{ file: 'a.bin', sha256: image.sha256 }], {
      hashCache: cache,
    });
    expect(first.problems).toEqual([]);
    // Same size, same mtime, different bytes: only a cache hit can still report the old digest.
    await writeFile(join(fw.dir, 'a.bin'), Buffer.alloc(100, 7));
    await utimes(join(fw.dir, 'a.bin'), mtime, mtime);
    const second = await buildFirmwareCatalog(fw.dir, [{ file: 'a.bin', sha256: image.sha256 }], {
      hashCache: cache,
    });
    expect(second.problems).toEqual([]);
    // A new mtime makes it hash again and notice the change.
    await utimes(join(fw.dir, 'a.bin'), new Date(mtime.getTime() + 5000), new Date(mtime.getTime() + 5000));
    const third = await buildFirmwareCatalog(fw.dir, [{ file: 'a.bin', sha256: image.sha256 }], {
      hashCache: cache,
    });
    expect(third.problems).toMatchObject([{ kind: 'sha256-mismatch' }]);
  });
});
