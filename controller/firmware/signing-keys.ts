import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';

import type { Database } from '../store/schema.js';
import type { KeyRing } from './signed-url.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface SigningKeysOptions {
  readonly db: Kysely<Database>;
  /** Lifetime of a link: a key that stopped signing still verifies this long. */
  readonly ttlSeconds: number;
  /** Age after which the signing key is replaced by a new one (default 7 days). */
  readonly rotateAfterMs?: number;
  /**
   * How often the keys are read again (default 60 s). A new key signs only two such periods
   * after it was created, so every replica knows it before a link signed with it reaches one.
   */
  readonly refreshMs?: number;
  readonly now?: () => number;
  /** Hears a failed periodic refresh; the keys already read stay in use. */
  readonly onError?: (error: unknown) => void;
}

export interface SigningKeys extends KeyRing {
  /** Rotates the signing key when it is due, drops keys past their overlap, reads the keys again. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

interface StoredKey {
  readonly id: number;
  readonly secret: Uint8Array;
  readonly createdMs: number;
}

/**
 * The keys of signed download links, kept in the database: a link verifies after a restart and on
 * every replica of the database. The newest key signs; a key replaced by a newer one keeps
 * verifying until the links it signed have expired (its successor's start plus the link ttl),
 * then it is deleted. Creating a key is one insert that only the first of several controllers
 * wins (on conflict do nothing); all then read the winner.
 */
export async function openSigningKeys(options: SigningKeysOptions): Promise<SigningKeys> {
  const now = options.now ?? Date.now;
  const rotateAfterMs = options.rotateAfterMs ?? 7 * DAY_MS;
  const refreshMs = options.refreshMs ?? 60_000;
  const ttlMs = options.ttlSeconds * 1000;
  const activationDelayMs = 2 * refreshMs;
  let keys: readonly StoredKey[] = [];

  /** When each key starts signing: the first one at once (no link was signed before it). */
  const startMs = (key: StoredKey, index: number) =>
    index === 0 ? key.createdMs : key.createdMs + activationDelayMs;
  const signingIndex = (nowMs: number) => {
    let current = 0;
    keys.forEach((key, index) => {
      if (startMs(key, index) <= nowMs) current = index;
    });
    return current;
  };
  /** Older keys verify until their successor has signed for a whole ttl; newer ones always. */
  const acceptedAt = (nowMs: number) => {
    const current = signingIndex(nowMs);
    return keys.filter((_key, index) => {
      if (index >= current) return true;
      const next = keys[index + 1]!;
      return nowMs < startMs(next, index + 1) + ttlMs;
    });
  };

  const refresh = async () => {
    const at = now();
    await sql`insert into url_signing_keys (id, secret, created_at)
      select coalesce(max(id), 0) + 1, ${randomBytes(32)}, ${new Date(at)}
      from url_signing_keys
      having count(*) = 0 or max(created_at) <= ${new Date(at - rotateAfterMs)}
      on conflict (id) do nothing`.execute(options.db);
    const rows = await options.db
      .selectFrom('url_signing_keys')
      .select(['id', 'secret', 'created_at'])
      .orderBy('id')
      .execute();
    keys = rows.map((row) => ({
      id: row.id,
      secret: new Uint8Array(row.secret),
      createdMs: row.created_at.getTime(),
    }));
    const retired = keys.filter((key) => !acceptedAt(at).includes(key)).map((key) => key.id);
    if (retired.length > 0) {
      await options.db.deleteFrom('url_signing_keys').where('id', 'in', retired).execute();
      keys = keys.filter((key) => !retired.includes(key.id));
    }
  };

  await refresh();
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = refresh()
      .catch((error: unknown) => options.onError?.(error))
      .finally(() => {
        running = undefined;
      });
  }, refreshMs);
  timer.unref();

  return {
    signingKey: (nowMs) => keys[signingIndex(nowMs)]!.secret,
    verificationKeys: (nowMs) => acceptedAt(nowMs).map((key) => key.secret),
    refresh,
    close: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
