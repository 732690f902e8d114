import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../controller/store/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A dump of a freshly migrated PGlite data directory, for every test file to start from. */
    pgliteTemplate: string;
  }
}

/**
 * Migrating a PGlite database costs seconds of CPU; doing it once per run instead of once per
 * test file keeps that cost off every file that opens an embedded database.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'otactl-pglite-template-'));
  const database = await openDatabase({ kind: 'memory' });
  try {
    const dump = await database.dump!();
    const file = join(dir, 'migrated.tar');
    await writeFile(file, new Uint8Array(await dump.arrayBuffer()));
    project.provide('pgliteTemplate', file);
  } finally {
    await database.close();
  }
  return () => rm(dir, { recursive: true, force: true });
}
