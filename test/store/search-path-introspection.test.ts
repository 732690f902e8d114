import { PostgresIntrospector, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, testBackends } from '../helpers/databases.js';

describe.each(testBackends)('introspection on $name', (backend) => {
  it('lists the tables on the search path and none of another schema', async () => {
    const store = await backend.open();
    try {
      const other = `other_${Math.random().toString(36).slice(2, 10)}`;
      await sql`create schema ${sql.id(other)}`.execute(store.db);
      await sql`create table ${sql.id(other, 'elsewhere')} (id serial primary key)`.execute(store.db);
      try {
        const tables = await store.db.introspection.getTables({ withInternalKyselyTables: true });
        const names = tables.map((t) => t.name);
        expect(names).toEqual(expect.arrayContaining(['devices', 'leases', 'kysely_migration']));
        expect(names).not.toContain('elsewhere');
        const events = tables.find((t) => t.name === 'events');
        expect(events?.columns.find((c) => c.name === 'id')).toMatchObject({ isAutoIncrementing: true });
        expect((await store.db.introspection.getTables()).map((t) => t.name)).not.toContain(
          'kysely_migration',
        );
      } finally {
        await sql`drop schema ${sql.id(other)} cascade`.execute(store.db);
      }
    } finally {
      await store.close();
    }
  });
});

const postgres = testBackends.find((b) => b.name === 'postgres');

describe.skipIf(postgres === undefined)('introspection on Postgres while another schema is dropped', () => {
  // The race that failed migrations of fresh schemas: the catalog snapshot still shows a schema
  // that a concurrent transaction dropped, and a by-name lookup of its tables then fails.
  it('migrations see only their own schema', async () => {
    const store = await postgres!.open();
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    const other = `gone_${Math.random().toString(36).slice(2, 10)}`;
    try {
      await admin.query(`create schema ${other}; create table ${other}.t (id serial primary key)`);
      await store.db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => {
          await sql`select 1 from pg_catalog.pg_class limit 1`.execute(trx);
          await admin.query(`drop schema ${other} cascade`);
          // Kysely's own introspector fails here (the control that shows the race is real)...
          await sql`savepoint control`.execute(trx);
          await expect(new PostgresIntrospector(trx).getTables()).rejects.toThrow(/does not exist/);
          await sql`rollback to savepoint control`.execute(trx);
          // ...and otactl's does not.
          const names = (await trx.introspection.getTables()).map((t) => t.name);
          expect(names).toContain('devices');
        });
    } finally {
      await admin.query(`drop schema if exists ${other} cascade`);
      await admin.end();
      await store.close();
    }
  });
});
