import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { hasFirmwareObject } from '../../controller/devices/firmware-report.js';
import type { Registration } from '../../controller/lwm2m/index.js';
import { hasFirmwareObjectSql } from '../../controller/reconcile/read/firmware-object-sql.js';
import { testBackends } from '../helpers/databases.js';

/** Register bodies (each one the link parser accepts), with and without object 5. */
const BODIES = [
  '</1/0>,</3/0>,</5/0>',
  '</1/0>,</3/0>,</5>;ver=1.2,</5/0>',
  '</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</5>;ver=1.2,</5/0>',
  '</>;rt="oma.lwm2m";ct=110,\n </1/0>, </3/0>,\r\n</5>;ver=1.2, </5/0>',
  '</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>,</lwm2m/5/0>',
  '</lwm2m/>;rt="oma.lwm2m",</lwm2m/5>',
  '</a1>;rt="oma.lwm2m",</a1/5/0>',
  '<5/0>',
  '<//5//0/>',
  '</05/0>',
  '</5/0>;dim=2;title="a>b"',
  '</1/0>,</3/0>',
  '</1/0>,</3/0>,</3/5>',
  '</3/0>,</5/0/3>',
  '</3/0>,</50/0>,</15/0>,</5x/0>,</x5/0>',
  '</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>,</lwm2m/3/5>',
  '</>;rt="oma.lwm2m";ct=110,</3/0>,</6/0>',
  '</1/0>,</3/0>,</3303/0>,</3303/5>',
  '',
];

describe.each(testBackends)('reading the firmware object from stored links on $name', (backend) => {
  it('agrees with device sync on every body', async () => {
    const store = await backend.open();
    try {
      for (const [i, links] of BODIES.entries()) {
        await store.db
          .insertInto('devices')
          .values({ endpoint: `dev-${i}`, object_links: links, updated_at: new Date() })
          .execute();
      }
      await store.db
        .insertInto('devices')
        .values({ endpoint: 'no-links', object_links: null, updated_at: new Date() })
        .execute();
      const rows = await sql<{ endpoint: string; has: boolean }>`
        select d.endpoint, ${hasFirmwareObjectSql('d')} as has from devices d`.execute(store.db);
      const bySql = Object.fromEntries(rows.rows.map((r) => [r.endpoint, r.has]));
      const expected = Object.fromEntries(
        BODIES.map((links, i) => [`dev-${i}`, hasFirmwareObject({ links } as Registration)]),
      );
      expect(bySql).toEqual({ ...expected, 'no-links': false });
      // Both kinds are there.
      expect(Object.values(expected)).toContain(true);
      expect(Object.values(expected)).toContain(false);
    } finally {
      await store.close();
    }
  });
});
