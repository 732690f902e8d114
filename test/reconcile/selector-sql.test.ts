import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { globToRegex } from '../../controller/manifests/endpoint-glob.js';
import { endpointPatternCondition } from '../../controller/reconcile/read/selector-sql.js';
import { testBackends } from '../helpers/databases.js';

const ENDPOINTS = [
  'sim-1',
  'sim-',
  'sim',
  'sim-a/b',
  'sim-a\nb',
  'SIM-1',
  'xsim-1',
  'sim%1',
  'sim_1',
  'simx1',
  'ünï-1',
  'ünï-',
  'a/b/c',
  'a/b/',
  '',
];

/** Literal, prefix and fallback shapes, with LIKE's own wildcards among the literal characters. */
const GLOBS = [
  'sim-*',
  'sim-**',
  'sim-1',
  'sim%*',
  'sim_*',
  'ünï-*',
  'a/b/*',
  'a/**',
  '*',
  '**',
  'sim-?',
  'sim-[0-9]',
  '{sim,xsim}-*',
];

describe.each(testBackends)('endpoint globs in SQL on $name', (backend) => {
  it('select what the regular expression selects', async () => {
    const store = await backend.open();
    try {
      const now = new Date();
      await store.db
        .insertInto('devices')
        .values(ENDPOINTS.map((endpoint) => ({ endpoint, updated_at: now })))
        .execute();
      // Against the regular expression, in the database: the same set as before the shortcut,
      // newlines included (in Postgres, unlike JavaScript, `.` matches one).
      for (const glob of GLOBS) {
        const rows = await sql<{ endpoint: string; fast: boolean; regex: boolean }>`
          select d.endpoint, ${endpointPatternCondition(glob)} as fast, d.endpoint ~ ${globToRegex(glob)} as regex
          from devices d`.execute(store.db);
        const differ = rows.rows.filter((r) => r.fast !== r.regex).map((r) => r.endpoint);
        expect({ glob, differ }).toEqual({ glob, differ: [] });
        expect(rows.rows.some((r) => r.fast)).toBe(true);
      }
    } finally {
      await store.close();
    }
  });
});
