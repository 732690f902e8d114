/** CoAP's variable-length unsigned integer (RFC 7252 3.2): big-endian, no leading zero bytes, 0 is empty. */
export function encodeUint(n: number): Buffer {
  if (n <= 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from(bytes);
}

export function decodeUint(value: Uint8Array): number {
  let n = 0;
  for (const b of value) n = n * 256 + b;
  return n;
}
