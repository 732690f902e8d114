import { decodeUint, encodeUint } from './uint.js';

/** A Block1 or Block2 option (RFC 7959 2.2): block number, more flag, size exponent. */
export interface BlockOption {
  readonly num: number;
  readonly more: boolean;
  /** Block size exponent: size = 2 ** (szx + 4), 0..6. */
  readonly szx: number;
}

/** Block sizes CoAP allows: 2^(SZX+4) for SZX 0..6. */
export const BLOCK_SIZES = [16, 32, 64, 128, 256, 512, 1024] as const;
export type BlockSize = (typeof BLOCK_SIZES)[number];

/** The largest block number the option's 20 bits hold. */
const MAX_BLOCK_NUM = 0xfffff;

/** Decodes an option value; undefined when it is longer than 3 bytes or has SZX 7 (BERT, not supported). */
export function decodeBlock(value: Uint8Array): BlockOption | undefined {
  if (value.length > 3) return undefined;
  const v = decodeUint(value);
  const szx = v & 7;
  if (szx === 7) return undefined;
  return { num: Math.floor(v / 16), more: (v & 8) !== 0, szx };
}

export function encodeBlock(b: BlockOption): Buffer {
  if (!Number.isInteger(b.num) || b.num < 0 || b.num > MAX_BLOCK_NUM || !(b.szx >= 0 && b.szx <= 6)) {
    throw new RangeError(`invalid block ${b.num} with SZX ${b.szx}`);
  }
  return encodeUint(b.num * 16 + (b.more ? 8 : 0) + b.szx);
}

export function blockSize(szx: number): number {
  return 2 ** (szx + 4);
}

/** The SZX of the largest allowed block size not above `max` (16 bytes at least). */
export function szxAtMost(max: number): number {
  let szx = 0;
  while (szx < 6 && blockSize(szx + 1) <= max) szx++;
  return szx;
}
