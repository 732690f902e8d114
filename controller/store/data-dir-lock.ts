import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export type LockResult =
  | { readonly kind: 'locked'; release(): void }
  | { readonly kind: 'busy'; readonly pid: number };

const LOCK_FILE = 'otactl.pid';

/**
 * PGlite is a single-process database: two controllers on one data directory would corrupt it.
 * A pid file created with O_EXCL claims the directory; a pid file left by a dead process is taken over.
 */
export function lockDataDir(dir: string): LockResult {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return {
        kind: 'locked',
        release: () => rmSync(path, { force: true }),
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && (pid === process.pid || isAlive(pid))) {
        return { kind: 'busy', pid };
      }
      rmSync(path, { force: true });
    }
  }
  throw new Error(`could not lock ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
