import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  needsAllowDowngrade,
  orderVersions,
  type VersionOrder,
} from '../../controller/firmware/version-order.js';
import { needsAllowDowngradeSql } from '../../controller/firmware/version-order-sql.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { migratorOf, testBackends } from '../helpers/databases.js';

const RELATION: Record<VersionOrder, string> = { lower: '<', equal: '=', higher: '>', unordered: '?' };

/** The one table of cases, read by the TypeScript order and by the database's. `?`: not ordered. */
const CASES: readonly (readonly [string, '<' | '=' | '>' | '?', string])[] = [
  ['2.0.0-rc.1', '<', '2.0.0'],
  ['1.10.0', '>', '1.9.0'],
  ['v2.0.0', '=', '2.0.0'],
  ['2.0.0+build.5', '=', '2.0.0'],
  ['2.0.0+build.4', '=', '2.0.0+build.5'],
  ['v2.0.0-rc.1+exp.sha.5114f85', '=', '2.0.0-rc.1'],
  // semver.org §11's example chain.
  ['1.0.0-alpha', '<', '1.0.0-alpha.1'],
  ['1.0.0-alpha.1', '<', '1.0.0-alpha.beta'],
  ['1.0.0-alpha.beta', '<', '1.0.0-beta'],
  ['1.0.0-beta', '<', '1.0.0-beta.2'],
  ['1.0.0-beta.2', '<', '1.0.0-beta.11'],
  ['1.0.0-beta.11', '<', '1.0.0-rc.1'],
  ['1.0.0-rc.1', '<', '1.0.0'],
  ['1.0.0', '<', '2.0.0'],
  ['2.0.0', '<', '2.1.0'],
  ['2.1.0', '<', '2.1.1'],
  ['1.9.9', '<', '1.10.0'],
  ['9.99.99', '<', '10.0.0'],
  ['1.0.0-9', '<', '1.0.0-10'],
  ['1.0.0-9', '<', '1.0.0-a'],
  ['1.0.0-Z', '<', '1.0.0-a'],
  ['1.0.0-a', '<', '1.0.0-a-b'],
  ['1.0.0-a-b', '<', '1.0.0-a-c'],
  ['1.0.0-a.b', '<', '1.0.0-ab'],
  ['1.0.0-0', '<', '1.0.0-0.0'],
  ['1.0.0-x.7.z.92', '>', '1.0.0-x.7.z.9'],
  ['1.0.0-0a', '>', '1.0.0-999'],
  // Past the precision of a JavaScript number and of a 64-bit integer.
  ['99999999999999999999.0.0', '>', '9999999999999999999.0.0'],
  ['0.0.0', '<', '0.0.1'],
  // Not semver: never ordered, not even against themselves (the same string is still not a downgrade).
  ['1.2', '?', '1.2.0'],
  ['1.2.3.4', '?', '1.2.3'],
  ['R12', '?', '1.0.0'],
  ['R12', '?', 'R12'],
  ['01.2.3', '?', '1.2.3'],
  ['1.0.0-01', '?', '1.0.0'],
  ['V1.2.3', '?', '1.2.3'],
  ['vv1.2.3', '?', '1.2.3'],
  [' 1.2.3', '?', '1.2.3'],
  ['1.2.3+', '?', '1.2.3'],
  ['1.2.3-', '?', '1.2.3'],
  ['1.2.3-a..b', '?', '1.2.3'],
  ['1.2.3-é', '?', '1.2.3'],
  ['', '?', '1.0.0'],
  [`1.0.0-${'a'.repeat(94)}`, '?', '1.0.0'],
  [`1.0.0-${'a'.repeat(93)}`, '>', '1.0.0-a'],
];

const flip = { '<': '>', '>': '<', '=': '=', '?': '?' } as const;

/** Moving a device from `from` to `to` needs allowDowngrade when `to` ranks lower or is not ordered. */
function expectedNeeds(from: string, relation: string, to: string): boolean {
  return from !== to && (relation === '>' || relation === '?');
}

describe('version order in TypeScript', () => {
  it.each(CASES)('%s %s %s', (a, relation, b) => {
    expect(RELATION[orderVersions(a, b)]).toBe(relation);
    expect(RELATION[orderVersions(b, a)]).toBe(flip[relation]);
    expect(needsAllowDowngrade(a, b)).toBe(expectedNeeds(a, relation, b));
    expect(needsAllowDowngrade(b, a)).toBe(expectedNeeds(b, flip[relation], a));
  });

  it('needs allowDowngrade for a device whose version is unknown', () => {
    expect(needsAllowDowngrade(null, '1.0.0')).toBe(true);
  });
});

describe.each(testBackends)('version order in SQL on $name', (backend) => {
  let store: OpenDatabase;
  beforeAll(async () => {
    store = await backend.open();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('ranks every case of the table as TypeScript does', async () => {
    const pairs = sql.join(CASES.map(([a, , b]) => sql`(${a}::text, ${b}::text)`));
    const { rows } = await sql<{ a: string; b: string; relation: string }>`
      select a, b, case
          when ka is null or kb is null then '?'
          when ka < kb collate "C" then '<'
          when ka > kb collate "C" then '>'
          else '=' end as relation
      from (select a, b, otactl_version_key(a) as ka, otactl_version_key(b) as kb
        from (values ${pairs}) as p(a, b)) k`.execute(store.db);
    expect(rows.map((r) => [r.a, r.relation, r.b])).toEqual(CASES.map((c) => [...c]));
  });

  it('refuses the same devices as TypeScript, from the key stored with each device', async () => {
    const versions = [...new Set(CASES.flatMap(([a, , b]) => [a, b]))];
    await sql`delete from devices`.execute(store.db);
    await store.db
      .insertInto('devices')
      .values([
        ...versions.map((v, i) => ({ endpoint: `dev-${i}`, firmware_version: v, updated_at: new Date() })),
        { endpoint: 'dev-unknown', firmware_version: null, updated_at: new Date() },
      ])
      .execute();
    const targets = [...versions, '3.0.0-rc.1', 'v0.0.1'];
    const checks = targets.map(async (to) => {
      const { rows } = await sql<{ firmware_version: string | null; needs: boolean }>`
        select d.firmware_version, ${needsAllowDowngradeSql('d', to)} as needs
        from devices d order by d.endpoint`.execute(store.db);
      return rows.map((r) => [r.firmware_version, to, r.needs]);
    });
    const sqlSide = (await Promise.all(checks)).flat();
    const tsSide = sqlSide.map(([from, to]) => [
      from,
      to,
      needsAllowDowngrade(from as string | null, to as string),
    ]);
    expect(sqlSide).toEqual(tsSide);
  });

  it('sorts random versions as TypeScript does', async () => {
    const versions = randomVersions(400, 16);
    const { rows } = await sql<{ v: string; k: string | null }>`
      select v, k from (select v, otactl_version_key(v) as k from unnest(${versions}::text[]) as v) x
      order by k collate "C", v`.execute(store.db);
    const ordered = rows.filter((r) => r.k !== null);
    expect(ordered.length).toBeGreaterThan(300);
    for (const [i, row] of ordered.entries()) {
      const next = ordered[i + 1];
      if (!next) break;
      const expected = row.k === next.k ? 'equal' : 'lower';
      expect([row.v, orderVersions(row.v, next.v), next.v]).toEqual([row.v, expected, next.v]);
    }
    for (const row of rows.filter((r) => r.k === null))
      expect(orderVersions(row.v, '1.0.0')).toBe('unordered');
  });

  it('keys the devices that were there before migration 0008', async () => {
    const old = await backend.open({ migrate: false });
    try {
      const migrator = migratorOf(old);
      expect((await migrator.migrateTo('0005-url-signing-keys')).error).toBeUndefined();
      await sql`insert into devices (endpoint, firmware_version, updated_at)
        values ('a', '2.0.0-rc.1', now()), ('b', '2.0.0', now()), ('c', 'R12', now())`.execute(old.db);
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      const { rows } = await sql<{ endpoint: string }>`
        select endpoint from devices where firmware_version_key is not null
        order by firmware_version_key collate "C"`.execute(old.db);
      expect(rows.map((r) => r.endpoint)).toEqual(['a', 'b']);
      // A generated column: nobody writes it.
      await expect(sql`update devices set firmware_version_key = 'x'`.execute(old.db)).rejects.toThrow();
      expect((await migrator.migrateTo('0005-url-signing-keys')).error).toBeUndefined();
    } finally {
      await old.close();
    }
  });
});

/** Versions built from a few parts, so that many share a prefix; a seeded generator keeps runs equal. */
function randomVersions(count: number, seed: number): string[] {
  let state = seed;
  const next = (n: number) => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state % n;
  };
  const pick = <T>(list: readonly T[]) => list[next(list.length)]!;
  const numbers = ['0', '1', '2', '9', '10', '11', '100', '01'];
  const identifiers = ['alpha', 'beta', 'rc', 'a', 'A', 'a-b', '0', '1', '2', '11', '0a', 'x1'];
  return Array.from({ length: count }, () => {
    const core = [pick(numbers), pick(numbers), pick(numbers)].join('.');
    const pre =
      next(2) === 0 ? '' : `-${Array.from({ length: 1 + next(3) }, () => pick(identifiers)).join('.')}`;
    const build = next(4) === 0 ? `+b.${next(9)}` : '';
    return `${next(5) === 0 ? 'v' : ''}${core}${pre}${build}`;
  });
}
