import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { BatchLoader } from './batch-loader.js';
import type { CredentialDirectory, PskCredential } from './credential-directory.js';
import {
  anyCredentials,
  type CredentialChange,
  credentialsByIdentities,
  endpointsWithCredentials,
} from './credential-store.js';
import { ExpiringLru } from './expiring-lru.js';

export interface DatabaseDirectoryOptions {
  /** Credentials (and endpoints known to have one) kept, least recently used out first. Default 10,000. */
  readonly maxEntries?: number;
  /** How long a found credential is trusted without reading it again. Default 60 s. */
  readonly ttlMs?: number;
  /** Identities and endpoints known to have no credential, kept apart so they cannot push out found ones. Default 2,000. */
  readonly maxNegativeEntries?: number;
  /** Default 5 s: a device whose credentials were just imported by another process waits at most this. */
  readonly negativeTtlMs?: number;
  /** Distinct lookups waiting for the database, per kind; beyond it a lookup fails at once. Default 1,000. */
  readonly maxPending?: number;
  /** Most identities or endpoints per query. Default 200. */
  readonly batchSize?: number;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
}

export interface DatabaseDirectoryStats {
  readonly cached: number;
  readonly cachedNegative: number;
  readonly pending: number;
  /** Lookups the database answered (each query answers up to `batchSize`). */
  readonly queries: number;
}

/**
 * The controller's credential directory: answers from a bounded cache, else from the database,
 * one indexed query for all the identities (or endpoints) asked for meanwhile. Never reads the
 * table whole, so 100,000 devices cost what the cache holds.
 *
 * Changes made through this process are passed to `invalidate` (see `CredentialStore`); changes by
 * another process (`otactl credentials` against the same Postgres) are seen once the cached answer
 * expires: `ttlMs` for a credential, `negativeTtlMs` for an unknown identity.
 */
export class DatabaseCredentialDirectory implements CredentialDirectory {
  readonly #byIdentity: ExpiringLru<string, PskCredential>;
  readonly #withCredentials: ExpiringLru<string, true>;
  /** Identities and endpoints without a credential: one cache, `i:`/`e:` keeps the two apart. */
  readonly #negative: ExpiringLru<string, true>;
  readonly #identityLoader: BatchLoader<string, PskCredential | undefined>;
  readonly #endpointLoader: BatchLoader<string, boolean>;
  /** Raised by every invalidation: an answer read before it is returned but not cached. */
  #generation = 0;
  #queries = 0;
  readonly #now: () => number;
  readonly #negativeTtlMs: number;
  readonly #db: Kysely<Database>;
  /** Whether the table held any credential, and until when that answer holds (negativeTtlMs). */
  #any: { readonly value: boolean; readonly until: number; readonly generation: number } | undefined;
  #anyPending: Promise<boolean> | undefined;

  constructor(db: Kysely<Database>, options: DatabaseDirectoryOptions = {}) {
    const now = options.now ?? (() => performance.now());
    this.#now = now;
    this.#db = db;
    this.#negativeTtlMs = options.negativeTtlMs ?? 5_000;
    const maxEntries = options.maxEntries ?? 10_000;
    const ttlMs = options.ttlMs ?? 60_000;
    this.#byIdentity = new ExpiringLru({ maxEntries, ttlMs, now });
    this.#withCredentials = new ExpiringLru({ maxEntries, ttlMs, now });
    this.#negative = new ExpiringLru({
      maxEntries: options.maxNegativeEntries ?? 2_000,
      ttlMs: options.negativeTtlMs ?? 5_000,
      now,
    });
    const limits = { batchSize: options.batchSize ?? 200, maxPending: options.maxPending ?? 1_000 };
    this.#identityLoader = new BatchLoader({
      ...limits,
      missing: undefined,
      fetch: async (identities) => {
        const generation = this.#generation;
        const found = await credentialsByIdentities(db, identities);
        this.#queries++;
        const byIdentity = new Map(found.map((credential) => [credential.identity, credential]));
        if (generation === this.#generation) {
          for (const identity of identities) {
            const credential = byIdentity.get(identity);
            if (credential === undefined) this.#negative.set(`i:${identity}`, true);
            else {
              this.#byIdentity.set(identity, credential);
              this.#withCredentials.set(credential.endpoint, true);
            }
          }
        }
        return byIdentity;
      },
    });
    this.#endpointLoader = new BatchLoader({
      ...limits,
      missing: false,
      fetch: async (endpoints) => {
        const generation = this.#generation;
        const found = await endpointsWithCredentials(db, endpoints);
        this.#queries++;
        if (generation === this.#generation) {
          for (const endpoint of endpoints) {
            if (found.has(endpoint)) this.#withCredentials.set(endpoint, true);
            else this.#negative.set(`e:${endpoint}`, true);
          }
        }
        return new Map([...found].map((endpoint) => [endpoint, true]));
      },
    });
  }

  /** Rejects with `LookupOverloadedError` when too many lookups wait, or with a `CredentialStoreError`. */
  async byIdentity(identity: string): Promise<PskCredential | undefined> {
    const cached = this.#byIdentity.get(identity);
    if (cached !== undefined) return cached.value;
    if (this.#negative.get(`i:${identity}`) !== undefined) return undefined;
    return this.#identityLoader.load(identity);
  }

  async hasCredentials(endpoint: string): Promise<boolean> {
    if (this.#withCredentials.get(endpoint) !== undefined) return true;
    if (this.#negative.get(`e:${endpoint}`) !== undefined) return false;
    // Every Register and Update over plain CoAP asks: with no credentials at all (a plain-CoAP
    // fleet) one query per negativeTtlMs answers them all, instead of one per batch of endpoints.
    if (!(await this.#anyCredentials())) return false;
    return this.#endpointLoader.load(endpoint);
  }

  #anyCredentials(): Promise<boolean> {
    const known = this.#any;
    if (known && known.generation === this.#generation && known.until > this.#now()) {
      return Promise.resolve(known.value);
    }
    this.#anyPending ??= (async () => {
      const generation = this.#generation;
      const value = await anyCredentials(this.#db);
      this.#queries++;
      if (generation === this.#generation) {
        this.#any = { value, until: this.#now() + this.#negativeTtlMs, generation };
      }
      return value;
    })().finally(() => {
      this.#anyPending = undefined;
    });
    return this.#anyPending;
  }

  /** Forgets what these changes made stale: the endpoints' and the identities' (old and new) answers. */
  invalidate(changes: readonly CredentialChange[]): void {
    this.#generation++;
    for (const change of changes) {
      if (change.kind === 'unchanged') continue;
      const identities =
        change.kind === 'updated' ? [change.identity, change.previousIdentity] : [change.identity];
      for (const identity of identities) {
        this.#byIdentity.delete(identity);
        this.#negative.delete(`i:${identity}`);
      }
      this.#withCredentials.delete(change.endpoint);
      this.#negative.delete(`e:${change.endpoint}`);
    }
  }

  /** Forgets everything cached. */
  clear(): void {
    this.#generation++;
    this.#byIdentity.clear();
    this.#withCredentials.clear();
    this.#negative.clear();
    this.#any = undefined;
  }

  stats(): DatabaseDirectoryStats {
    return {
      cached: this.#byIdentity.size + this.#withCredentials.size,
      cachedNegative: this.#negative.size,
      pending: this.#identityLoader.pending + this.#endpointLoader.pending,
      queries: this.#queries,
    };
  }
}
