import { describe, expect, it } from 'vitest';
import { createUrlSigner, signDownload, verifyDownload } from '../../controller/firmware/signed-url.js';
import { openSigningKeys, type SigningKeys } from '../../controller/firmware/signing-keys.js';
import { type OpenDatabase, openDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 24 * 60 * 60 * 1000;
const TTL_S = 600;
const REFRESH_MS = 1_000;
const FILE = 'app-2.0.0.bin';
const DEVICE = 'urn:imei:490154203237518';

function clockAt(ms: number) {
  const clock = { ms, now: () => clock.ms };
  return clock;
}

function signedQuery(keys: SigningKeys, nowMs: number): URLSearchParams {
  return new URLSearchParams(
    createUrlSigner({ key: keys, ttlSeconds: TTL_S, now: () => nowMs })(DEVICE)(FILE),
  );
}

/** A second connection to the same database: another controller on it. */
async function secondConnection(store: OpenDatabase): Promise<OpenDatabase> {
  return store.spec.kind === 'postgres'
    ? openDatabase(store.spec, { migrate: false })
    : { ...store, close: async () => {} };
}

async function storedKeys(store: OpenDatabase) {
  return store.db.selectFrom('url_signing_keys').select(['id', 'secret']).orderBy('id').execute();
}

describe.each(testBackends)('signing keys on $name', (backend) => {
  it('keep a link valid across a restart of the controller', async () => {
    const store = await backend.open();
    try {
      const clock = clockAt(T0);
      const before = await openSigningKeys({ db: store.db, ttlSeconds: TTL_S, now: clock.now });
      const query = signedQuery(before, T0);
      await before.close();

      const after = await openSigningKeys({ db: store.db, ttlSeconds: TTL_S, now: clock.now });
      expect(verifyDownload(after, FILE, query, T0 + 599_000)).toEqual({
        ok: true,
        endpoint: DEVICE,
        expiresAt: T0 / 1000 + TTL_S,
      });
      expect(verifyDownload(after, FILE, query, T0 + 600_000)).toEqual({ ok: false, reason: 'expired' });
      await after.close();
    } finally {
      await store.close();
    }
  }, 180_000);

  it('are created once by two controllers starting at the same time, and rotated once', async () => {
    const store = await backend.open();
    const other = await secondConnection(store);
    try {
      const clock = clockAt(T0);
      const options = { ttlSeconds: TTL_S, refreshMs: REFRESH_MS, rotateAfterMs: DAY, now: clock.now };
      const [a, b] = await Promise.all([
        openSigningKeys({ db: store.db, ...options }),
        openSigningKeys({ db: other.db, ...options }),
      ]);
      expect(await storedKeys(store)).toHaveLength(1);
      expect(Buffer.from(a.signingKey(T0))).toEqual(Buffer.from(b.signingKey(T0)));
      expect(verifyDownload(b, FILE, signedQuery(a, T0), T0).ok).toBe(true);

      clock.ms = T0 + DAY;
      await Promise.all([a.refresh(), b.refresh()]);
      expect((await storedKeys(store)).map((k) => k.id)).toEqual([1, 2]);
      const later = T0 + DAY + 2 * REFRESH_MS;
      expect(Buffer.from(a.signingKey(later))).toEqual(Buffer.from(b.signingKey(later)));
      expect(verifyDownload(a, FILE, signedQuery(b, later), later).ok).toBe(true);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await other.close();
      await store.close();
    }
  }, 180_000);

  it('rotate with overlap: a replaced key verifies for one link ttl, then is refused and deleted', async () => {
    const store = await backend.open();
    try {
      const clock = clockAt(T0);
      const options = { ttlSeconds: TTL_S, refreshMs: REFRESH_MS, rotateAfterMs: DAY, now: clock.now };
      const keys = await openSigningKeys({ db: store.db, ...options });
      const [first] = await storedKeys(store);
      // What a holder of the first key could sign: a link that expires long after the rotation.
      const longLived = new URLSearchParams(
        signDownload(first!.secret, { endpoint: DEVICE, fileName: FILE, expiresAt: T0 / 1000 + 30 * 86_400 }),
      );

      clock.ms = T0 + DAY;
      await keys.refresh();
      // The new key is announced, but signs only once every replica has read it.
      const announced = T0 + DAY;
      const lastOfOld = signedQuery(keys, announced + 2 * REFRESH_MS - 1);
      expect(Buffer.from(keys.signingKey(announced))).toEqual(Buffer.from(first!.secret));
      const switched = announced + 2 * REFRESH_MS;
      expect(Buffer.from(keys.signingKey(switched))).not.toEqual(Buffer.from(first!.secret));
      const firstOfNew = signedQuery(keys, switched);

      const overlapEnd = switched + TTL_S * 1000;
      expect(verifyDownload(keys, FILE, lastOfOld, overlapEnd - 1).ok).toBe(true);
      expect(verifyDownload(keys, FILE, longLived, overlapEnd - 1).ok).toBe(true);
      expect(verifyDownload(keys, FILE, longLived, overlapEnd)).toEqual({
        ok: false,
        reason: 'bad-signature',
      });
      expect(verifyDownload(keys, FILE, firstOfNew, overlapEnd - 1).ok).toBe(true);

      clock.ms = overlapEnd;
      await keys.refresh();
      expect((await storedKeys(store)).map((k) => k.id)).toEqual([2]);
      // a controller started now knows only the current key
      const restarted = await openSigningKeys({ db: store.db, ...options });
      expect(verifyDownload(restarted, FILE, longLived, overlapEnd)).toEqual({
        ok: false,
        reason: 'bad-signature',
      });
      expect(verifyDownload(restarted, FILE, signedQuery(keys, overlapEnd), overlapEnd).ok).toBe(true);
      await Promise.all([keys.close(), restarted.close()]);
    } finally {
      await store.close();
    }
  }, 180_000);
});
