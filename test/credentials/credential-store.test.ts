import { inspect } from 'node:util';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CredentialChange,
  CredentialStore,
  CredentialStoreError,
  listCredentials,
  type PskCredential,
  PskKey,
  putCredentials,
  removeCredential,
} from '../../controller/credentials/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';

const key = (fill: number) => new PskKey(Buffer.alloc(16, fill));
const cred = (endpoint: string, identity: string, fill: number): PskCredential => ({
  endpoint,
  identity,
  key: key(fill),
});

describe.each(testBackends)('credential store on $name', (backend) => {
  let store: OpenDatabase;
  beforeEach(async () => {
    store = await backend.open();
  });
  afterEach(async () => {
    await store.close();
  });

  async function rows() {
    const result = await sql<{ endpoint: string; psk_identity: string; key_hex: string; updated_at: Date }>`
      select endpoint, psk_identity, encode(psk_key, 'hex') as key_hex, updated_at
      from device_credentials order by endpoint`.execute(store.db);
    return result.rows;
  }

  it('adds, keeps the same content unchanged, and updates a changed key or identity', async () => {
    const first = await putCredentials(store.db, [cred('dev-1', 'id-1', 1), cred('dev-2', 'id-2', 2)]);
    expect(first).toEqual({
      kind: 'written',
      changes: [
        { kind: 'added', endpoint: 'dev-1', identity: 'id-1' },
        { kind: 'added', endpoint: 'dev-2', identity: 'id-2' },
      ],
    });
    const before = await rows();
    expect(before.map((r) => [r.endpoint, r.psk_identity, r.key_hex])).toEqual([
      ['dev-1', 'id-1', '01'.repeat(16)],
      ['dev-2', 'id-2', '02'.repeat(16)],
    ]);

    const again = await putCredentials(store.db, [cred('dev-1', 'id-1', 1), cred('dev-2', 'id-2', 2)]);
    expect(again).toMatchObject({ kind: 'written', changes: [{ kind: 'unchanged' }, { kind: 'unchanged' }] });
    expect(await rows()).toEqual(before);

    const changed = await putCredentials(store.db, [cred('dev-1', 'id-1', 9), cred('dev-2', 'id-2b', 2)]);
    expect(changed).toEqual({
      kind: 'written',
      changes: [
        { kind: 'updated', endpoint: 'dev-1', identity: 'id-1', previousIdentity: 'id-1', keyChanged: true },
        {
          kind: 'updated',
          endpoint: 'dev-2',
          identity: 'id-2b',
          previousIdentity: 'id-2',
          keyChanged: false,
        },
      ],
    });
    expect((await rows()).map((r) => [r.endpoint, r.psk_identity, r.key_hex])).toEqual([
      ['dev-1', 'id-1', '09'.repeat(16)],
      ['dev-2', 'id-2b', '02'.repeat(16)],
    ]);
  });

  it('refuses the whole batch when an identity belongs to an endpoint that keeps it', async () => {
    await putCredentials(store.db, [cred('dev-1', 'id-1', 1)]);
    const result = await putCredentials(store.db, [cred('dev-3', 'id-3', 3), cred('dev-2', 'id-1', 2)]);
    expect(result).toEqual({
      kind: 'refused',
      problems: [{ index: 1, field: 'identity', reason: 'is already the identity of endpoint "dev-1"' }],
    });
    expect((await rows()).map((r) => r.endpoint)).toEqual(['dev-1']);
  });

  it('moves identities between endpoints of one batch (a swap)', async () => {
    await putCredentials(store.db, [cred('dev-1', 'id-a', 1), cred('dev-2', 'id-b', 2)]);
    const result = await putCredentials(store.db, [cred('dev-1', 'id-b', 1), cred('dev-2', 'id-a', 2)]);
    expect(result.kind).toBe('written');
    expect((await rows()).map((r) => [r.endpoint, r.psk_identity])).toEqual([
      ['dev-1', 'id-b'],
      ['dev-2', 'id-a'],
    ]);
  });

  it('refuses a batch that names an endpoint or an identity twice, or breaks a rule', async () => {
    const result = await putCredentials(store.db, [
      cred('dev-1', 'id-1', 1),
      cred('dev-1', 'id-2', 1),
      cred('dev-3', 'id-1', 1),
      { endpoint: '', identity: 'id-4', key: new PskKey(Buffer.alloc(8)) },
    ]);
    expect(result).toEqual({
      kind: 'refused',
      problems: [
        { index: 1, field: 'endpoint', reason: 'repeats the endpoint of entry 1' },
        { index: 2, field: 'identity', reason: 'repeats the identity of entry 1' },
        { index: 3, field: 'endpoint', reason: 'is empty' },
        { index: 3, field: 'key', reason: 'is 8 bytes long, 16 to 64 allowed' },
      ],
    });
    expect(await rows()).toEqual([]);
  });

  it('removes a credential and lists the rest by pages, without keys', async () => {
    await putCredentials(
      store.db,
      Array.from({ length: 5 }, (_, i) => cred(`dev-${i}`, `id-${i}`, i + 1)),
    );
    expect(await removeCredential(store.db, 'dev-2')).toEqual({
      kind: 'removed',
      endpoint: 'dev-2',
      identity: 'id-2',
    });
    expect(await removeCredential(store.db, 'dev-2')).toBeUndefined();
    const first = await listCredentials(store.db, { limit: 2 });
    const second = await listCredentials(store.db, { after: first.at(-1)!.endpoint, limit: 2 });
    const third = await listCredentials(store.db, { after: second.at(-1)!.endpoint, limit: 2 });
    expect([...first, ...second].map((c) => c.endpoint)).toEqual(['dev-0', 'dev-1', 'dev-3', 'dev-4']);
    expect(third).toEqual([]);
    expect(Object.keys(first[0]!).sort()).toEqual(['createdAt', 'endpoint', 'identity', 'updatedAt']);
  });

  it('tells its listener what changed, only when something did', async () => {
    const heard: CredentialChange[][] = [];
    const writer = new CredentialStore(store.db, { onChanged: (changes) => heard.push([...changes]) });
    await writer.put([cred('dev-1', 'id-1', 1)]);
    await writer.put([cred('dev-1', 'id-1', 1)]);
    await writer.remove('dev-1');
    await writer.remove('dev-1');
    expect(heard).toEqual([
      [{ kind: 'added', endpoint: 'dev-1', identity: 'id-1' }],
      [{ kind: 'removed', endpoint: 'dev-1', identity: 'id-1' }],
    ]);
  });

  it('reports a database failure without the statement parameters that hold the key', async () => {
    await sql`alter table device_credentials add constraint test_refuses check (psk_identity <> 'boom')`.execute(
      store.db,
    );
    const secret = new PskKey(Buffer.from('5ec2e75ec2e75ec2e75ec2e75ec2e7ff', 'hex'));
    const failure = await putCredentials(store.db, [
      { endpoint: 'dev-1', identity: 'boom', key: secret },
    ]).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(CredentialStoreError);
    expect((failure as CredentialStoreError).code).toBe('23514');
    const text = [inspect(failure, { depth: 10, showHidden: true }), JSON.stringify(failure)].join('\n');
    expect(text).toContain('test_refuses');
    expect(text.toLowerCase()).not.toContain('5ec2e7');
  });
});
