import { createHash } from 'node:crypto';
import { type RawBuilder, sql } from 'kysely';

/**
 * The canary order of a rollout: devices sorted by a key that depends on the rollout and the
 * endpoint only, tie-broken by endpoint. The key is
 *
 *   hashint4extended(<first 32 bits of md5(endpoint)>, <first 64 bits of md5(rollout)>)
 *
 * The endpoint's md5 is stored once per device (`devices.canary_hash`, migration 0002), so a pass
 * hashes one integer per device instead of running md5 over every member (most of a pass at
 * 100,000 devices). `hashint4extended` is Postgres' seeded hash of an int4 (Bob Jenkins' lookup3,
 * the function hash partitioning uses, unchanged since Postgres 11 and in PGlite): it works on the
 * integer's value, not its bytes, so it is the same on every platform, and the seed enters its
 * mixing before the value, so each rollout draws its own order. `canaryKey` below computes the
 * same number in JavaScript, so the canary set can be named in advance (`otactl plan`, tests) and
 * stays the same across restarts.
 */

/** The first 32 bits of md5(text) as a signed integer: `devices.canary_hash` of an endpoint. */
export function endpointHash(endpoint: string): number {
  return Number.parseInt(md5Hex(endpoint).slice(0, 8), 16) | 0;
}

/** The first 64 bits of md5(rollout) as a signed 64-bit integer: the rollout's seed. */
export function rolloutSeed(rollout: string): bigint {
  return BigInt.asIntN(64, BigInt(`0x${md5Hex(rollout).slice(0, 16)}`));
}

/** The canary rank key of a device in a rollout, exactly what the database sorts by. */
export function canaryKey(rollout: string, endpoint: string): bigint {
  return hashInt4Extended(endpointHash(endpoint), rolloutSeed(rollout));
}

/** The key in SQL, over `devices` aliased `d` (see `canaryKey`). */
export function canaryKeySql(rollout: string): RawBuilder<string> {
  return sql<string>`hashint4extended(d.canary_hash, ${rolloutSeed(rollout).toString()}::int8)`;
}

/** Endpoints in the order a rollout admits them. */
export function canaryOrder(rollout: string, endpoints: readonly string[]): string[] {
  const keys = new Map(endpoints.map((e) => [e, canaryKey(rollout, e)]));
  return [...endpoints].sort((a, b) => {
    const ka = keys.get(a)!;
    const kb = keys.get(b)!;
    return ka < kb ? -1 : ka > kb ? 1 : a < b ? -1 : a > b ? 1 : 0;
  });
}

function md5Hex(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

const rot = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/**
 * Postgres' `hashint4extended(value, seed)` (hash_bytes_uint32_extended in src/common/hashfn.c):
 * lookup3's mix of the seed, then its final mix of the value; the result is (b << 32) | c read as
 * a signed 64-bit integer. All arithmetic is modulo 2^32 (`| 0`).
 */
export function hashInt4Extended(value: number, seed: bigint): bigint {
  let a = (0x9e3779b9 + 4 + 3923095) | 0;
  let b = a;
  let c = a;
  const unsignedSeed = BigInt.asUintN(64, seed);
  if (unsignedSeed !== 0n) {
    a = (a + Number(unsignedSeed >> 32n)) | 0;
    b = (b + Number(unsignedSeed & 0xffffffffn)) | 0;
    // mix(a, b, c)
    a = (a - c) | 0;
    a ^= rot(c, 4);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot(a, 6);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot(b, 8);
    b = (b + a) | 0;
    a = (a - c) | 0;
    a ^= rot(c, 16);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot(a, 19);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot(b, 4);
    b = (b + a) | 0;
  }
  a = (a + value) | 0;
  // final(a, b, c)
  c ^= b;
  c = (c - rot(b, 14)) | 0;
  a ^= c;
  a = (a - rot(c, 11)) | 0;
  b ^= a;
  b = (b - rot(a, 25)) | 0;
  c ^= b;
  c = (c - rot(b, 16)) | 0;
  a ^= c;
  a = (a - rot(c, 4)) | 0;
  b ^= a;
  b = (b - rot(a, 14)) | 0;
  c ^= b;
  c = (c - rot(b, 24)) | 0;
  return BigInt.asIntN(64, (BigInt(b >>> 0) << 32n) | BigInt(c >>> 0));
}
