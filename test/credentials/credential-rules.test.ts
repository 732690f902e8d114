import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  checkEndpoint,
  checkPskIdentity,
  checkPskKeyLength,
  parsePskKeyHex,
  pskIdentityFromBytes,
} from '../../controller/credentials/index.js';
import { testBackends } from '../helpers/databases.js';

interface Case {
  readonly name: string;
  readonly endpoint: string;
  readonly identity: string;
  readonly keyLength: number;
  readonly ok: boolean;
}

const good = { endpoint: 'dev-1', identity: 'id-1', keyLength: 16 };
// One table for the rules in TypeScript and the CHECKs of migration 0011.
const CASES: readonly Case[] = [
  { name: 'a 16-byte key', ...good, ok: true },
  { name: 'a 32-byte key', ...good, keyLength: 32, ok: true },
  { name: 'a 64-byte key', ...good, keyLength: 64, ok: true },
  { name: 'a 15-byte key', ...good, keyLength: 15, ok: false },
  { name: 'a 65-byte key', ...good, keyLength: 65, ok: false },
  { name: 'an empty key', ...good, keyLength: 0, ok: false },
  { name: 'an empty endpoint', ...good, endpoint: '', ok: false },
  { name: 'a 255-byte endpoint', ...good, endpoint: 'e'.repeat(255), ok: true },
  { name: 'a 256-byte endpoint', ...good, endpoint: 'e'.repeat(256), ok: false },
  { name: 'a 255-byte endpoint of 2-byte letters', ...good, endpoint: `${'é'.repeat(127)}e`, ok: true },
  { name: 'a 256-byte endpoint of 2-byte letters', ...good, endpoint: 'é'.repeat(128), ok: false },
  { name: 'an empty identity', ...good, identity: '', ok: false },
  { name: 'a 256-byte identity', ...good, identity: 'i'.repeat(256), ok: true },
  { name: 'a 257-byte identity', ...good, identity: 'i'.repeat(257), ok: false },
  { name: 'a 256-byte identity of 4-byte letters', ...good, identity: '😀'.repeat(64), ok: true },
  { name: 'a 260-byte identity of 4-byte letters', ...good, identity: '😀'.repeat(65), ok: false },
];

function tsAccepts(c: Case): boolean {
  return checkEndpoint(c.endpoint).ok && checkPskIdentity(c.identity).ok && checkPskKeyLength(c.keyLength).ok;
}

describe('credential rules', () => {
  it.each(CASES)('$name: accepted = $ok in TypeScript', (c) => {
    expect(tsAccepts(c)).toBe(c.ok);
  });

  it('refuse what Postgres text cannot hold exactly', () => {
    expect(checkEndpoint('a\0b')).toEqual({ ok: false, reason: 'contains a NUL character' });
    expect(checkPskIdentity('\ud800x')).toEqual({ ok: false, reason: 'is not valid UTF-8' });
  });

  it('read a key as hex without quoting it in the reason', () => {
    expect(parsePskKeyHex('00112233445566778899AABBCCDDEEFF')).toMatchObject({ ok: true });
    for (const bad of ['0011223344556677889900aabbccddeeg', '001', '00112233', '']) {
      const parsed = parsePskKeyHex(bad);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok && bad !== '') expect(parsed.reason).not.toContain(bad);
    }
  });

  it('take a DTLS identity as text only when a credential could have it', () => {
    expect(pskIdentityFromBytes(Buffer.from('dev-1'))).toBe('dev-1');
    expect(pskIdentityFromBytes(Buffer.from([0xff, 0x41]))).toBeUndefined();
    expect(pskIdentityFromBytes(Buffer.from('a\0b'))).toBeUndefined();
    expect(pskIdentityFromBytes(Buffer.alloc(257, 0x41))).toBeUndefined();
    expect(pskIdentityFromBytes(Buffer.alloc(0))).toBeUndefined();
  });
});

describe.each(testBackends)('device_credentials CHECKs on $name', (backend) => {
  it('accept and refuse the same cases as the TypeScript rules', async () => {
    const store = await backend.open();
    try {
      for (const [i, c] of CASES.entries()) {
        // Distinct names per case, except where the case is about the name itself.
        const endpoint = c.endpoint === good.endpoint ? `dev-${i}` : c.endpoint;
        const identity = c.identity === good.identity ? `id-${i}` : c.identity;
        const insert = sql`insert into device_credentials (endpoint, psk_identity, psk_key)
          values (${endpoint}, ${identity}, ${Buffer.alloc(c.keyLength, 7)})`.execute(store.db);
        if (c.ok) await expect(insert, c.name).resolves.toBeDefined();
        else await expect(insert, c.name).rejects.toThrow(/check constraint "device_credentials_\w+_length"/);
      }
    } finally {
      await store.close();
    }
  });

  it('hold one credential per endpoint and per identity', async () => {
    const store = await backend.open();
    try {
      const key = Buffer.alloc(16, 1);
      await sql`insert into device_credentials (endpoint, psk_identity, psk_key) values ('a', 'x', ${key})`.execute(
        store.db,
      );
      await expect(
        sql`insert into device_credentials (endpoint, psk_identity, psk_key) values ('a', 'y', ${key})`.execute(
          store.db,
        ),
      ).rejects.toThrow(/device_credentials_pkey/);
      await expect(
        sql`insert into device_credentials (endpoint, psk_identity, psk_key) values ('b', 'x', ${key})`.execute(
          store.db,
        ),
      ).rejects.toThrow(/device_credentials_identity_unique/);
    } finally {
      await store.close();
    }
  });
});
