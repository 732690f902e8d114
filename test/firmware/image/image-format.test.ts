import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { IMAGE_MAGIC, packImage, parseImage } from '../../../controller/firmware/image/index.js';

const payload = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
const image = packImage({ version: '2.1.0', model: 'T3', payload });

describe('image format', () => {
  it('round-trips version, model and payload', () => {
    const parsed = parseImage(image);
    expect(parsed).toEqual({ ok: true, version: '2.1.0', model: 'T3', payload });
  });

  it('starts with the magic OTAFW1', () => {
    expect(image.subarray(0, 6).toString()).toBe('OTAFW1');
    expect(IMAGE_MAGIC.toString()).toBe('OTAFW1');
  });

  it('round-trips an empty payload and UTF-8 strings', () => {
    const parsed = parseImage(packImage({ version: '1.0.0-ß', model: 'Ünit', payload: Buffer.alloc(0) }));
    expect(parsed).toMatchObject({ ok: true, version: '1.0.0-ß', model: 'Ünit' });
  });

  it.each([
    ['a cut payload', image.subarray(0, image.length - 1)],
    ['a cut header', image.subarray(0, 12)],
    ['part of the magic', image.subarray(0, 3)],
    ['nothing', Buffer.alloc(0)],
  ])('rejects %s as truncated', (_name, buf) => {
    expect(parseImage(buf)).toEqual({ ok: false, reason: 'truncated' });
  });

  it('rejects other files as bad-magic', () => {
    expect(parseImage(Buffer.from('#!/bin/sh\necho hi\n'))).toEqual({ ok: false, reason: 'bad-magic' });
    expect(parseImage(Buffer.from('x'))).toEqual({ ok: false, reason: 'bad-magic' });
  });

  it('rejects an unknown format version', () => {
    const copy = Buffer.from(image);
    copy[6] = 9;
    expect(parseImage(copy)).toEqual({ ok: false, reason: 'unsupported-format' });
  });

  it('rejects bytes after the payload', () => {
    expect(parseImage(Buffer.concat([image, Buffer.from([0])]))).toEqual({
      ok: false,
      reason: 'trailing-bytes',
    });
  });

  it('detects a flipped payload bit and a changed header field as digest-mismatch', () => {
    const flipped = Buffer.from(image);
    flipped[flipped.length - 100]! ^= 1;
    expect(parseImage(flipped)).toEqual({ ok: false, reason: 'digest-mismatch' });
    const renamed = Buffer.from(image);
    renamed[image.indexOf('T3')] = 'X'.charCodeAt(0);
    expect(parseImage(renamed)).toEqual({ ok: false, reason: 'digest-mismatch' });
  });

  it('refuses an empty or over-long version or model when packing', () => {
    expect(() => packImage({ version: '', model: 'T3', payload })).toThrow(RangeError);
    expect(() => packImage({ version: '1', model: 'x'.repeat(256), payload })).toThrow(RangeError);
  });
});

describe('otactl firmware pack', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'otactl-fw-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the image and prints its sha256 and a ready Firmware manifest', async () => {
    await writeFile(join(dir, 'payload.bin'), payload);
    const out = join(dir, 'tracker-2.1.0.otafw');
    const { stdout } = await promisify(execFile)(
      'node',
      [
        'bin/otactl.js',
        'firmware',
        'pack',
        '--version',
        '2.1.0',
        '--model',
        'T3',
        '--out',
        out,
        join(dir, 'payload.bin'),
      ],
      { cwd: join(import.meta.dirname, '../../..') },
    );
    const written = await readFile(out);
    expect(parseImage(written)).toEqual({ ok: true, version: '2.1.0', model: 'T3', payload });
    const sha256 = createHash('sha256').update(written).digest('hex');
    expect(stdout).toContain(sha256);
    expect(parse(stdout)).toEqual({
      apiVersion: 'otactl/v1alpha1',
      kind: 'Firmware',
      metadata: { name: 't3-2.1.0' },
      spec: { version: '2.1.0', file: 'tracker-2.1.0.otafw', sha256, models: ['T3'] },
    });
  });

  it('refuses to overwrite an existing image unless --force', async () => {
    await writeFile(join(dir, 'payload.bin'), payload);
    const out = join(dir, 'existing.otafw');
    await writeFile(out, 'committed image');
    const args = ['bin/otactl.js', 'firmware', 'pack', '--version', '2.1.0', '--model', 'T3', '--out', out];
    const cwd = join(import.meta.dirname, '../../..');
    await expect(
      promisify(execFile)('node', [...args, join(dir, 'payload.bin')], { cwd }),
    ).rejects.toMatchObject({
      code: 1,
      stderr: `otactl: ${out} already exists (use --force to overwrite)\n`,
    });
    expect(await readFile(out, 'utf8')).toBe('committed image');
    await promisify(execFile)('node', [...args, '--force', join(dir, 'payload.bin')], { cwd });
    expect(parseImage(await readFile(out))).toEqual({ ok: true, version: '2.1.0', model: 'T3', payload });
  });

  it('fails with one line naming a missing payload', async () => {
    const run = promisify(execFile)(
      'node',
      [
        'bin/otactl.js',
        'firmware',
        'pack',
        '--version',
        '1',
        '--model',
        'T3',
        '--out',
        join(dir, 'x'),
        join(dir, 'none'),
      ],
      { cwd: join(import.meta.dirname, '../../..') },
    );
    await expect(run).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('cannot read payload'),
    });
  });
});
