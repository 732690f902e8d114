/** Block sizes CoAP allows (RFC 7959): 2^(SZX+4) for SZX 0..6. */
export const BLOCK_SIZES = [16, 32, 64, 128, 256, 512, 1024] as const;
export type BlockSize = (typeof BLOCK_SIZES)[number];

export interface BlockOption {
  readonly num: number;
  readonly more: boolean;
  readonly size: BlockSize;
}

/** Decodes a Block1/Block2 option value (0-3 bytes); undefined for a malformed one or SZX 7 (BERT). */
export function decodeBlockOption(value: Uint8Array): BlockOption | undefined {
  if (value.length > 3) return undefined;
  let uint = 0;
  for (const byte of value) uint = uint * 256 + byte;
  const size = BLOCK_SIZES[uint & 0x7];
  if (size === undefined) return undefined;
  return { num: Math.floor(uint / 16), more: (uint & 0x8) !== 0, size };
}

export function encodeBlockOption(block: BlockOption): Buffer {
  const szx = BLOCK_SIZES.indexOf(block.size);
  if (szx < 0 || block.num < 0 || block.num > 0xfffff)
    throw new RangeError(`invalid block ${block.num}/${block.size}`);
  const uint = block.num * 16 + (block.more ? 8 : 0) + szx;
  if (uint === 0) return Buffer.alloc(0);
  if (uint <= 0xff) return Buffer.of(uint);
  if (uint <= 0xffff) return Buffer.of(uint >> 8, uint & 0xff);
  return Buffer.of(uint >> 16, (uint >> 8) & 0xff, uint & 0xff);
}

/** The largest allowed block size not above `max`. */
export function clampBlockSize(max: number): BlockSize {
  let chosen: BlockSize = 16;
  for (const size of BLOCK_SIZES) if (size <= max) chosen = size;
  return chosen;
}
