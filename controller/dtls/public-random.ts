import { randomBytes } from 'node:crypto';

const POOL_BYTES = 4096;
let pool: Buffer = Buffer.alloc(0);
let offset = 0;

/**
 * Random bytes for values that go out in clear (hello randoms, session ids, CBC IVs), drawn from
 * a buffer the system's generator fills 4 KB at a time: `randomBytes(32)` costs some 25 µs on
 * Node 20, nearly all of it per call, which was the largest single cost of a handshake. The bytes
 * are as unpredictable as `randomBytes`' own; keys and secrets never come from here.
 */
export function publicRandom(length: number): Buffer {
  if (length > POOL_BYTES) return randomBytes(length);
  if (offset + length > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + length));
  pool.fill(0, offset, offset + length);
  offset += length;
  return out;
}
