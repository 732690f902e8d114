import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { openDatabase } from '../../../controller/store/index.js';
import { seedFleet } from '../../api/fixtures.js';
import { seedPgliteDataDir } from '../../helpers/databases.js';

/**
 * A PGlite data directory holding the API fixtures' fleet (`seedFleet`), made before the tests of
 * the file calling this and removed after them. Read `dataDir` inside a test.
 */
export function seededDataDir(prefix: string): { readonly dataDir: string } {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    await seedPgliteDataDir(join(dir, 'db'));
    const store = await openDatabase({ kind: 'pglite', dataDir: join(dir, 'db') });
    await seedFleet(store.db);
    await store.close();
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return {
    get dataDir() {
      if (dir === undefined) throw new Error('the data directory is made before the tests');
      return join(dir, 'db');
    },
  };
}

/** A port on which nothing listens: bind one, note it, close it. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
