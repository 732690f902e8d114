import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { globToRegex } from '../../controller/manifests/endpoint-glob.js';
import { testBackends } from '../helpers/databases.js';

// pattern -> endpoints it matches, out of ENDPOINTS
const EXPECTED: Record<string, string[]> = {
  'tracker-*': ['tracker-001', 'tracker-5', 'tracker-', 'tracker-001x'],
  'tracker-00?': ['tracker-001'],
  'tracker-[0-4]*': ['tracker-001', 'tracker-001x'],
  'tracker-[!0-4]*': ['tracker-5'],
  '{tracker,meter}-1*': ['meter-10'],
  'a.b+c': ['a.b+c'],
  '*': ['tracker-001', 'tracker-5', 'tracker-', 'meter-10', 'meter-2', 'a.b+c', 'axb+c', 'tracker-001x'],
  '**': [
    'tracker-001',
    'tracker-5',
    'tracker-',
    'meter-10',
    'meter-2',
    'a.b+c',
    'axb+c',
    'tracker-001x',
    'x/y',
  ],
};
const ENDPOINTS = [
  'tracker-001',
  'tracker-5',
  'tracker-',
  'meter-10',
  'meter-2',
  'a.b+c',
  'axb+c',
  'tracker-001x',
  'x/y',
];

describe('endpoint globs', () => {
  it('match as documented in JavaScript', () => {
    for (const [pattern, expected] of Object.entries(EXPECTED)) {
      const regex = new RegExp(globToRegex(pattern));
      expect({ pattern, matches: ENDPOINTS.filter((e) => regex.test(e)) }).toEqual({
        pattern,
        matches: expected,
      });
    }
  });

  it.each(testBackends)('match the same in the database ($name)', async (backend) => {
    const store = await backend.open();
    try {
      for (const [pattern, expected] of Object.entries(EXPECTED)) {
        const rows = await sql<{ e: string }>`
          select e from unnest(${sql.val(ENDPOINTS)}::text[]) as e where e ~ ${globToRegex(pattern)}`.execute(
          store.db,
        );
        expect({ pattern, matches: rows.rows.map((r) => r.e) }).toEqual({ pattern, matches: expected });
      }
    } finally {
      await store.close();
    }
  });
});
