import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CredentialStore,
  DatabaseCredentialDirectory,
  LookupOverloadedError,
  PskKey,
  putCredentials,
} from '../../controller/credentials/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';

const key = (fill: number) => new PskKey(Buffer.alloc(16, fill));

/** A clock the test moves by hand. */
function manualClock() {
  let now = 1_000;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe.each(testBackends)('DatabaseCredentialDirectory on $name', (backend) => {
  let store: OpenDatabase;
  beforeEach(async () => {
    store = await backend.open();
    await putCredentials(
      store.db,
      Array.from({ length: 300 }, (_, i) => ({
        endpoint: `dev-${i}`,
        identity: `id-${i}`,
        key: key(i % 250),
      })),
    );
  });
  afterEach(async () => {
    await store.close();
  });

  it('finds a credential by identity and an endpoint with credentials, then answers from its cache', async () => {
    const directory = new DatabaseCredentialDirectory(store.db);
    const found = await directory.byIdentity('id-7');
    expect(found?.endpoint).toBe('dev-7');
    expect(found?.key.bytes()).toEqual(Buffer.alloc(16, 7));
    expect(await directory.byIdentity('nobody')).toBeUndefined();
    expect(await directory.hasCredentials('dev-8')).toBe(true);
    expect(await directory.hasCredentials('dev-unknown')).toBe(false);
    const queries = directory.stats().queries;
    // Two identities, whether the table holds any credential, two endpoints.
    expect(queries).toBe(5);
    expect((await directory.byIdentity('id-7'))?.endpoint).toBe('dev-7');
    expect(await directory.byIdentity('nobody')).toBeUndefined();
    // Found by its identity, so its endpoint is known to have credentials too.
    expect(await directory.hasCredentials('dev-7')).toBe(true);
    expect(await directory.hasCredentials('dev-unknown')).toBe(false);
    expect(directory.stats().queries).toBe(queries);
  });

  it('answers concurrent lookups of one identity with one query, and many identities with few', async () => {
    const directory = new DatabaseCredentialDirectory(store.db, { batchSize: 200 });
    const same = await Promise.all(Array.from({ length: 50 }, () => directory.byIdentity('id-3')));
    expect(same.every((c) => c?.endpoint === 'dev-3')).toBe(true);
    expect(directory.stats().queries).toBe(1);

    const many = await Promise.all(
      Array.from({ length: 250 }, (_, i) => directory.byIdentity(`id-${i + 10}`)),
    );
    expect(many.map((c) => c?.endpoint)).toEqual(Array.from({ length: 250 }, (_, i) => `dev-${i + 10}`));
    // The first starts a query at once; the rest wait for it and go in batches of 200.
    expect(directory.stats().queries).toBeLessThanOrEqual(1 + 3);
    expect(directory.stats().pending).toBe(0);
  });

  it('reads a credential again after its TTL, an unknown identity after the shorter negative TTL', async () => {
    const clock = manualClock();
    const directory = new DatabaseCredentialDirectory(store.db, {
      ttlMs: 60_000,
      negativeTtlMs: 5_000,
      now: clock.now,
    });
    expect(await directory.byIdentity('new-id')).toBeUndefined();
    await directory.byIdentity('id-1');
    expect(directory.stats().queries).toBe(2);
    // Another process adds the credential and changes a key: this directory was not told.
    await putCredentials(store.db, [
      { endpoint: 'dev-new', identity: 'new-id', key: key(1) },
      { endpoint: 'dev-1', identity: 'id-1', key: key(99) },
    ]);
    clock.advance(4_999);
    expect(await directory.byIdentity('new-id')).toBeUndefined();
    clock.advance(1);
    expect((await directory.byIdentity('new-id'))?.endpoint).toBe('dev-new');
    expect((await directory.byIdentity('id-1'))?.key.bytes()).toEqual(Buffer.alloc(16, 1));
    clock.advance(55_000);
    expect((await directory.byIdentity('id-1'))?.key.bytes()).toEqual(Buffer.alloc(16, 99));
  });

  it('answers a fleet without any credential from one query per negative TTL, and sees an import at once', async () => {
    await store.db.deleteFrom('device_credentials').execute();
    const clock = manualClock();
    const directory = new DatabaseCredentialDirectory(store.db, { now: clock.now });
    const writer = new CredentialStore(store.db, { onChanged: (changes) => directory.invalidate(changes) });
    const plain = (n: number) => Array.from({ length: n }, (_, i) => directory.hasCredentials(`plain-${i}`));
    expect(new Set(await Promise.all(plain(1000)))).toEqual(new Set([false]));
    expect(directory.stats().queries).toBe(1);
    clock.advance(4_999);
    await Promise.all(plain(1000));
    expect(directory.stats().queries).toBe(1);

    await writer.put([{ endpoint: 'plain-3', identity: 'id-p3', key: key(3) }]);
    expect(await directory.hasCredentials('plain-3')).toBe(true);
    expect(await directory.hasCredentials('plain-4')).toBe(false);
  });

  it('forgets what a change through this process made stale, at once', async () => {
    const directory = new DatabaseCredentialDirectory(store.db);
    const writer = new CredentialStore(store.db, { onChanged: (changes) => directory.invalidate(changes) });
    expect((await directory.byIdentity('id-5'))?.key.bytes()).toEqual(Buffer.alloc(16, 5));
    expect(await directory.byIdentity('id-5-new')).toBeUndefined();
    expect(await directory.hasCredentials('dev-fresh')).toBe(false);

    await writer.put([
      { endpoint: 'dev-5', identity: 'id-5-new', key: key(55) },
      { endpoint: 'dev-fresh', identity: 'id-fresh', key: key(56) },
    ]);
    expect(await directory.byIdentity('id-5')).toBeUndefined();
    expect((await directory.byIdentity('id-5-new'))?.key.bytes()).toEqual(Buffer.alloc(16, 55));
    expect(await directory.hasCredentials('dev-fresh')).toBe(true);

    await writer.remove('dev-5');
    expect(await directory.byIdentity('id-5-new')).toBeUndefined();
    expect(await directory.hasCredentials('dev-5')).toBe(false);
  });

  it('does not cache an answer whose query ran across an invalidation', async () => {
    const directory = new DatabaseCredentialDirectory(store.db);
    const during = directory.byIdentity('id-9');
    // The query is under way: a change heard now may or may not be in its answer.
    directory.invalidate([{ kind: 'added', endpoint: 'dev-x', identity: 'id-x' }]);
    expect((await during)?.endpoint).toBe('dev-9');
    expect(directory.stats().queries).toBe(1);
    await directory.byIdentity('id-9');
    expect(directory.stats().queries).toBe(2);
    await directory.byIdentity('id-9');
    expect(directory.stats().queries).toBe(2);
  });

  it('stays within its bounds under a flood of unknown identities and still serves a known device', async () => {
    const directory = new DatabaseCredentialDirectory(store.db, {
      maxEntries: 50,
      maxNegativeEntries: 100,
      maxPending: 64,
      batchSize: 16,
    });
    const flood = await Promise.allSettled(
      Array.from({ length: 5_000 }, (_, i) => directory.byIdentity(`attacker-${i}`)),
    );
    const refused = flood.filter((r) => r.status === 'rejected');
    expect(refused.length).toBe(5_000 - 64);
    expect(refused.every((r) => r.reason instanceof LookupOverloadedError)).toBe(true);
    expect(flood.filter((r) => r.status === 'fulfilled').every((r) => r.value === undefined)).toBe(true);
    // 64 lookups in batches of at most 16, and one of the first alone.
    expect(directory.stats().queries).toBeLessThanOrEqual(1 + 4);

    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 60 }, (_, i) => directory.byIdentity(`attacker-${round}-${i}`)));
      await Promise.all(Array.from({ length: 60 }, (_, i) => directory.byIdentity(`id-${i + round}`)));
    }
    const stats = directory.stats();
    expect(stats.cachedNegative).toBeLessThanOrEqual(100);
    expect(stats.cached).toBeLessThanOrEqual(2 * 50);
    expect(stats.pending).toBe(0);
    expect((await directory.byIdentity('id-299'))?.endpoint).toBe('dev-299');
  });
});
