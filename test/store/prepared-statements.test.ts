import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { StatementNames } from '../../controller/store/prepared-statements.js';
import { TEST_DATABASE_URL, testBackends } from '../helpers/databases.js';

describe('statement names', () => {
  it('names a text from its third run on, one name per text', () => {
    const names = new StatementNames({ threshold: 3 });
    expect(names.nameFor('select 1')).toBeUndefined();
    expect(names.nameFor('select 1')).toBeUndefined();
    const first = names.nameFor('select 1');
    expect(first).toBeDefined();
    expect(names.nameFor('select 1')).toBe(first);
    for (let i = 0; i < 3; i++) names.nameFor('select 2');
    expect(names.nameFor('select 2')).not.toBe(first);
  });

  it('stops naming at the cap, and forgets counts of a flood of one-off texts', () => {
    const names = new StatementNames({ threshold: 2, maxNamed: 2 });
    for (const text of ['a', 'a', 'b', 'b']) names.nameFor(text);
    expect(names.named).toBe(2);
    expect(names.nameFor('c')).toBeUndefined();
    expect(names.nameFor('c')).toBeUndefined();
    expect(names.named).toBe(2);
    const counting = new StatementNames({ threshold: 2, maxNamed: 10 });
    counting.nameFor('x');
    for (let i = 0; i < 40; i++) counting.nameFor(`one-off ${i}`);
    // The count of 'x' was dropped with the flood: one more run does not name it yet.
    expect(counting.nameFor('x')).toBeUndefined();
    expect(counting.nameFor('x')).toBeDefined();
  });
});

const postgres = testBackends.find((b) => b.name === 'postgres');

describe.skipIf(!TEST_DATABASE_URL)('prepared statements on Postgres', () => {
  it('prepares a repeated statement with parameters once per connection, and leaves texts without them alone', async () => {
    const store = await postgres!.open({ poolSize: 1 });
    try {
      for (let i = 0; i < 5; i++) {
        const rows = await sql<{
          n: number;
        }>`select count(*)::int as n from devices where endpoint = ${`ep-${i}`}`.execute(store.db);
        expect(rows.rows[0]?.n).toBe(0);
      }
      // Several statements in one text run by the simple protocol, which a named statement cannot.
      for (let i = 0; i < 5; i++) {
        await sql`create temporary table if not exists scratch (n int); drop table scratch`.execute(store.db);
      }
      const prepared = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(
        store.db,
      );
      const statements = prepared.rows.map((r) => r.statement);
      // (Migrations may have prepared their own bookkeeping statements on this connection too.)
      expect(statements).toContain('select count(*)::int as n from devices where endpoint = $1');
      expect(statements.filter((text) => text.includes('scratch'))).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('prepares nothing when turned off (a pooler that cannot keep prepared statements)', async () => {
    const store = await postgres!.open({ poolSize: 1, preparedStatements: false });
    try {
      for (let i = 0; i < 5; i++) {
        await sql`select count(*)::int as n from devices where endpoint = ${`ep-${i}`}`.execute(store.db);
      }
      const prepared = await sql<{
        n: number;
      }>`select count(*)::int as n from pg_prepared_statements`.execute(store.db);
      expect(prepared.rows[0]?.n).toBe(0);
    } finally {
      await store.close();
    }
  });
});
