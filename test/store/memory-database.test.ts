import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../controller/store/index.js';

describe('an in-memory embedded database', () => {
  it('starts from the template it is given, and reads int8 as numbers', async () => {
    const template = await openDatabase({ kind: 'memory' });
    await sql`create table marker (n int8)`.execute(template.db);
    await sql`insert into marker values (9007199254740991)`.execute(template.db);
    const dump = await template.dump!();
    await template.close();

    const copy = await openDatabase({ kind: 'memory', template: dump }, { migrate: false });
    try {
      const { rows } = await sql<{ n: unknown }>`select n from marker`.execute(copy.db);
      expect(rows).toEqual([{ n: Number.MAX_SAFE_INTEGER }]);
    } finally {
      await copy.close();
    }
  });
});
