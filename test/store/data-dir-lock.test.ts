import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../controller/store/data-dir-lock.js';
import { openDatabase } from '../../controller/store/index.js';

const LOCK_MODULE = fileURLToPath(new URL('../../controller/store/data-dir-lock.ts', import.meta.url));

let dir: string;
const children: ChildProcess[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otactl-lock-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** A second process that takes the lock and says so on stdout, then holds it until killed. */
async function holderProcess(dataDir: string): Promise<ChildProcess> {
  const script = `
    import { lockDataDir } from ${JSON.stringify(LOCK_MODULE)};
    const lock = await lockDataDir(${JSON.stringify(dataDir)});
    process.stdout.write(lock.kind + '\\n');
    setInterval(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  expect(line.toString().trim()).toBe('locked');
  return child;
}

/** What a controller killed with SIGKILL leaves behind: a socket file nobody listens on. */
async function staleLock(dataDir: string, pidFileContent: string): Promise<void> {
  const holder = await holderProcess(dataDir);
  holder.kill('SIGKILL');
  await once(holder, 'exit');
  expect(existsSync(join(dataDir, 'otactl.lock'))).toBe(true);
  // the old lock's PID file, naming this very process as a restarted PID 1 would see it
  await writeFile(join(dataDir, 'otactl.pid'), pidFileContent);
}

describe('the embedded database lock', () => {
  it('is taken over from a killed holder, even one that had the same PID as the new process', async () => {
    await staleLock(dir, String(process.pid));
    const lock = await lockDataDir(dir);
    expect(lock.kind).toBe('locked');
    if (lock.kind === 'locked') await lock.release();
    expect(existsSync(join(dir, 'otactl.lock'))).toBe(false);
  }, 60_000);

  it('refuses a directory held by a live process, naming its PID', async () => {
    const holder = await holderProcess(dir);
    expect(await lockDataDir(dir)).toEqual({ kind: 'busy', pid: holder.pid });
    await expect(openDatabase({ kind: 'pglite', dataDir: dir })).rejects.toThrow(
      new RegExp(`embedded database at .* is in use by another otactl \\(pid ${holder.pid}\\); stop it`),
    );
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const lock = await lockDataDir(dir);
    expect(lock.kind).toBe('locked');
    if (lock.kind === 'locked') await lock.release();
  }, 60_000);

  it('gives a stale lock to exactly one of many contenders at once', async () => {
    await staleLock(dir, '1');
    // Contenders start one turn of the event loop apart, so that some find the socket stale while
    // another is between removing it and binding its own.
    const pending: Promise<Awaited<ReturnType<typeof lockDataDir>>>[] = [];
    for (let i = 0; i < 24; i++) {
      pending.push(lockDataDir(dir));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const results = await Promise.all(pending);
    expect(results.filter((r) => r.kind === 'locked')).toHaveLength(1);
    expect(results.filter((r) => r.kind === 'busy')).toEqual(
      Array.from({ length: 23 }, () => ({ kind: 'busy', pid: process.pid })),
    );
    for (const r of results) if (r.kind === 'locked') await r.release();
  }, 60_000);

  it('is free again once released', async () => {
    const first = await lockDataDir(dir);
    if (first.kind !== 'locked') throw new Error('expected the lock');
    expect((await lockDataDir(dir)).kind).toBe('busy');
    await first.release();
    const second = await lockDataDir(dir);
    expect(second.kind).toBe('locked');
    if (second.kind === 'locked') await second.release();
  });

  it('names a data directory whose lock socket path is too long', async () => {
    const deep = join(dir, 'x'.repeat(120));
    expect(await lockDataDir(deep)).toEqual({
      kind: 'unusable',
      reason: expect.stringMatching(
        /otactl\.lock is longer than 103 bytes; use a shorter data directory path/,
      ),
    });
  });
});
