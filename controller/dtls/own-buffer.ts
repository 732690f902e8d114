/**
 * A copy of `bytes` in a buffer of its own. Small Buffers are slices of shared 8 KB pools; one slice
 * kept for a session's lifetime (an identity, a key) keeps its whole pool alive, so long-lived
 * material is copied out of the pool.
 */
export function ownCopy(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(out);
  return out;
}
