import { type Kysely, sql } from 'kysely';
import { sqlState } from '../store/errors.js';
import type { Database } from '../store/schema.js';
import type { PskCredential } from './credential-directory.js';
import { checkEndpoint, checkPskIdentity, checkPskKeyLength } from './credential-rules.js';
import { PskKey } from './psk-key.js';

/** A stored credential as it may be shown: never its key. */
export interface CredentialInfo {
  readonly endpoint: string;
  readonly identity: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What a write did to one endpoint's credential; carries no key, so it may be logged or printed. */
export type CredentialChange =
  | { readonly kind: 'added'; readonly endpoint: string; readonly identity: string }
  | {
      readonly kind: 'updated';
      readonly endpoint: string;
      readonly identity: string;
      readonly previousIdentity: string;
      readonly keyChanged: boolean;
    }
  | { readonly kind: 'unchanged'; readonly endpoint: string; readonly identity: string }
  | { readonly kind: 'removed'; readonly endpoint: string; readonly identity: string };

/** One credential of a batch that cannot be stored; `index` is its position in the batch. */
export interface CredentialProblem {
  readonly index: number;
  readonly field: 'endpoint' | 'identity' | 'key';
  readonly reason: string;
}

export type PutCredentialsResult =
  /** `changes` in the order of the batch. */
  | { readonly kind: 'written'; readonly changes: readonly CredentialChange[] }
  /** Nothing was written. */
  | { readonly kind: 'refused'; readonly problems: readonly CredentialProblem[] };

/**
 * A database failure while reading or writing credentials, with the database's message and
 * SQLSTATE only: the driver's error may carry the statement's parameters (PGlite's does) or the
 * failing row (Postgres' detail), and those hold keys.
 */
export class CredentialStoreError extends Error {
  readonly code: string | undefined;

  constructor(message: string, code: string | undefined) {
    super(message);
    this.name = 'CredentialStoreError';
    this.code = code;
  }
}

async function scrubbed<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof CredentialStoreError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new CredentialStoreError(message, sqlState(error));
  }
}

/** The rules of credential-rules.ts, and one credential per endpoint and per identity in the batch. */
function checkBatch(credentials: readonly PskCredential[]): CredentialProblem[] {
  const problems: CredentialProblem[] = [];
  const seen = { endpoint: new Map<string, number>(), identity: new Map<string, number>() };
  credentials.forEach((credential, index) => {
    const checks = [
      ['endpoint', checkEndpoint(credential.endpoint)],
      ['identity', checkPskIdentity(credential.identity)],
      ['key', checkPskKeyLength(credential.key.length)],
    ] as const;
    for (const [field, check] of checks) {
      if (!check.ok) problems.push({ index, field, reason: check.reason });
    }
    for (const field of ['endpoint', 'identity'] as const) {
      const earlier = seen[field].get(credential[field]);
      if (earlier === undefined) seen[field].set(credential[field], index);
      else problems.push({ index, field, reason: `repeats the ${field} of entry ${earlier + 1}` });
    }
  });
  return problems;
}

/**
 * Stores credentials, all or none, in one transaction: a new endpoint is added, a changed identity
 * or key replaces the old one, the same content again changes nothing (not even `updated_at`).
 * Refused, with nothing written, when an entry breaks a rule, two entries name one endpoint or
 * identity, or an identity belongs to an endpoint that keeps it. Identities may move between
 * endpoints of the batch. Writers are serialised by a table lock; readers are not blocked.
 */
export async function putCredentials(
  db: Kysely<Database>,
  credentials: readonly PskCredential[],
): Promise<PutCredentialsResult> {
  const problems = checkBatch(credentials);
  if (problems.length > 0) return { kind: 'refused', problems };
  if (credentials.length === 0) return { kind: 'written', changes: [] };
  const endpoints = credentials.map((c) => c.endpoint);
  const identities = credentials.map((c) => c.identity);
  const keys = credentials.map((c) => c.key.bytes().toString('hex'));
  return scrubbed(() =>
    db.transaction().execute(async (trx): Promise<PutCredentialsResult> => {
      await sql`lock table device_credentials in share row exclusive mode`.execute(trx);
      const taken = await sql<{ ord: number; owner: string }>`
        with f as (
          select * from unnest(${endpoints}::text[], ${identities}::text[])
            with ordinality as f(endpoint, identity, ord))
        select f.ord::int4 as ord, c.endpoint as owner
        from f join device_credentials c on c.psk_identity = f.identity and c.endpoint <> f.endpoint
        where not exists (select 1 from f g where g.endpoint = c.endpoint)
        order by f.ord`.execute(trx);
      if (taken.rows.length > 0) {
        return {
          kind: 'refused',
          problems: taken.rows.map((row) => ({
            index: row.ord - 1,
            field: 'identity' as const,
            reason: `is already the identity of endpoint "${row.owner}"`,
          })),
        };
      }
      const stored = await sql<{ ord: number; previous_identity: string; same_key: boolean }>`
        with f as (
          select * from unnest(${endpoints}::text[], ${keys}::text[])
            with ordinality as f(endpoint, key_hex, ord))
        select f.ord::int4 as ord, c.psk_identity as previous_identity,
          c.psk_key = decode(f.key_hex, 'hex') as same_key
        from f join device_credentials c using (endpoint)`.execute(trx);
      const before = new Map(stored.rows.map((row) => [row.ord - 1, row]));
      const changes = credentials.map((credential, index): CredentialChange => {
        const { endpoint, identity } = credential;
        const old = before.get(index);
        if (old === undefined) return { kind: 'added', endpoint, identity };
        if (old.previous_identity === identity && old.same_key)
          return { kind: 'unchanged', endpoint, identity };
        return {
          kind: 'updated',
          endpoint,
          identity,
          previousIdentity: old.previous_identity,
          keyChanged: !old.same_key,
        };
      });
      const written = changes.flatMap((change, index) => (change.kind === 'unchanged' ? [] : [index]));
      if (written.length > 0) {
        await sql`
          insert into device_credentials as c (endpoint, psk_identity, psk_key)
          select endpoint, identity, decode(key_hex, 'hex')
          from unnest(
            ${written.map((i) => endpoints[i]!)}::text[],
            ${written.map((i) => identities[i]!)}::text[],
            ${written.map((i) => keys[i]!)}::text[]) as f(endpoint, identity, key_hex)
          on conflict (endpoint) do update
            set psk_identity = excluded.psk_identity, psk_key = excluded.psk_key, updated_at = now()`.execute(
          trx,
        );
        // An identity that moved checks here, not at commit, so the failure names the constraint.
        await sql`set constraints device_credentials_identity_unique immediate`.execute(trx);
      }
      return { kind: 'written', changes };
    }),
  );
}

/** Deletes an endpoint's credential; undefined when it had none. */
export async function removeCredential(
  db: Kysely<Database>,
  endpoint: string,
): Promise<Extract<CredentialChange, { kind: 'removed' }> | undefined> {
  const row = await scrubbed(() =>
    db
      .deleteFrom('device_credentials')
      .where('endpoint', '=', endpoint)
      .returning('psk_identity')
      .executeTakeFirst(),
  );
  return row === undefined ? undefined : { kind: 'removed', endpoint, identity: row.psk_identity };
}

/** One page of credentials in endpoint order, after `after` (exclusive); never their keys. */
export async function listCredentials(
  db: Kysely<Database>,
  page: { readonly after?: string; readonly limit: number },
): Promise<CredentialInfo[]> {
  const rows = await scrubbed(() => {
    let query = db
      .selectFrom('device_credentials')
      .select(['endpoint', 'psk_identity', 'created_at', 'updated_at'])
      .orderBy('endpoint')
      .limit(page.limit);
    if (page.after !== undefined) query = query.where('endpoint', '>', page.after);
    return query.execute();
  });
  return rows.map((row) => ({
    endpoint: row.endpoint,
    identity: row.psk_identity,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }));
}

/** The credentials of these identities (those that have one), in one indexed query. */
export async function credentialsByIdentities(
  db: Kysely<Database>,
  identities: readonly string[],
): Promise<PskCredential[]> {
  if (identities.length === 0) return [];
  const rows = await scrubbed(() =>
    db
      .selectFrom('device_credentials')
      .select(['endpoint', 'psk_identity', 'psk_key'])
      .where(sql<boolean>`psk_identity = any(${[...identities]}::text[])`)
      .execute(),
  );
  return rows.map((row) => ({
    endpoint: row.endpoint,
    identity: row.psk_identity,
    key: new PskKey(row.psk_key),
  }));
}

/** Which of these endpoints have a credential, in one indexed query. */
/** Whether any device has a credential: a plain-CoAP fleet has none, and need not be asked about device by device. */
export async function anyCredentials(db: Kysely<Database>): Promise<boolean> {
  const row = await scrubbed(() =>
    db.selectFrom('device_credentials').select('endpoint').limit(1).executeTakeFirst(),
  );
  return row !== undefined;
}

export async function endpointsWithCredentials(
  db: Kysely<Database>,
  endpoints: readonly string[],
): Promise<Set<string>> {
  if (endpoints.length === 0) return new Set();
  const rows = await scrubbed(() =>
    db
      .selectFrom('device_credentials')
      .select('endpoint')
      .where(sql<boolean>`endpoint = any(${[...endpoints]}::text[])`)
      .execute(),
  );
  return new Set(rows.map((row) => row.endpoint));
}

/**
 * The credentials table for code that changes it: every write tells `onChanged` what changed
 * (after commit), so the process's `DatabaseCredentialDirectory` can `invalidate` at once.
 */
export class CredentialStore {
  readonly #db: Kysely<Database>;
  readonly #onChanged: (changes: readonly CredentialChange[]) => void;

  constructor(
    db: Kysely<Database>,
    options: { readonly onChanged?: (changes: readonly CredentialChange[]) => void } = {},
  ) {
    this.#db = db;
    this.#onChanged = options.onChanged ?? (() => {});
  }

  async put(credentials: readonly PskCredential[]): Promise<PutCredentialsResult> {
    const result = await putCredentials(this.#db, credentials);
    if (result.kind === 'written' && result.changes.some((change) => change.kind !== 'unchanged')) {
      this.#onChanged(result.changes);
    }
    return result;
  }

  async remove(endpoint: string): Promise<Extract<CredentialChange, { kind: 'removed' }> | undefined> {
    const change = await removeCredential(this.#db, endpoint);
    if (change !== undefined) this.#onChanged([change]);
    return change;
  }

  list(page: { readonly after?: string; readonly limit: number }): Promise<CredentialInfo[]> {
    return listCredentials(this.#db, page);
  }
}
