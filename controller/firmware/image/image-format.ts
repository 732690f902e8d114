import { createHash } from 'node:crypto';

/**
 * Simulated-firmware image, version 1:
 *
 * | bytes | field |
 * |---|---|
 * | 6 | magic `OTAFW1` |
 * | 1 | format version (1) |
 * | 1 + n | firmware version, length-prefixed UTF-8 (n <= 255) |
 * | 1 + n | model, length-prefixed UTF-8 (n <= 255) |
 * | 4 | payload length, big-endian |
 * | 32 | sha256 of every byte before it and of the payload |
 * | n | payload |
 *
 * The digest covers the header too, so a corrupted version or model string is an
 * integrity failure rather than a silently different image.
 */
export const IMAGE_MAGIC = Buffer.from('OTAFW1', 'ascii');
export const IMAGE_FORMAT_VERSION = 1;
const DIGEST_BYTES = 32;

export interface ImageContent {
  readonly version: string;
  readonly model: string;
  readonly payload: Buffer;
}

export const IMAGE_REJECTIONS = [
  'truncated',
  'bad-magic',
  'unsupported-format',
  'trailing-bytes',
  'digest-mismatch',
] as const;
export type ImageRejection = (typeof IMAGE_REJECTIONS)[number];

export type ParsedImage =
  | ({ readonly ok: true } & ImageContent)
  | { readonly ok: false; readonly reason: ImageRejection };

function lengthPrefixed(text: string, field: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0 || bytes.length > 255) {
    throw new RangeError(`image ${field} must be 1..255 bytes of UTF-8, got ${bytes.length}`);
  }
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** Builds an image. Throws RangeError for an empty or over-long version/model (a caller bug). */
export function packImage(content: ImageContent): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(content.payload.length);
  const head = Buffer.concat([
    IMAGE_MAGIC,
    Buffer.from([IMAGE_FORMAT_VERSION]),
    lengthPrefixed(content.version, 'version'),
    lengthPrefixed(content.model, 'model'),
    length,
  ]);
  const digest = createHash('sha256').update(head).update(content.payload).digest();
  return Buffer.concat([head, digest, content.payload]);
}

export function parseImage(image: Buffer): ParsedImage {
  if (image.length < IMAGE_MAGIC.length) {
    return IMAGE_MAGIC.subarray(0, image.length).equals(image)
      ? { ok: false, reason: 'truncated' }
      : { ok: false, reason: 'bad-magic' };
  }
  if (!image.subarray(0, IMAGE_MAGIC.length).equals(IMAGE_MAGIC)) return { ok: false, reason: 'bad-magic' };
  let offset = IMAGE_MAGIC.length;
  const formatVersion = image[offset++];
  if (formatVersion === undefined) return { ok: false, reason: 'truncated' };
  if (formatVersion !== IMAGE_FORMAT_VERSION) return { ok: false, reason: 'unsupported-format' };
  const strings: string[] = [];
  for (let i = 0; i < 2; i++) {
    const size = image[offset];
    if (size === undefined || offset + 1 + size > image.length) return { ok: false, reason: 'truncated' };
    strings.push(image.toString('utf8', offset + 1, offset + 1 + size));
    offset += 1 + size;
  }
  if (offset + 4 + DIGEST_BYTES > image.length) return { ok: false, reason: 'truncated' };
  const payloadLength = image.readUInt32BE(offset);
  offset += 4;
  const headEnd = offset;
  const digest = image.subarray(offset, offset + DIGEST_BYTES);
  offset += DIGEST_BYTES;
  const available = image.length - offset;
  if (available < payloadLength) return { ok: false, reason: 'truncated' };
  if (available > payloadLength) return { ok: false, reason: 'trailing-bytes' };
  const payload = image.subarray(offset);
  const actual = createHash('sha256').update(image.subarray(0, headEnd)).update(payload).digest();
  if (!actual.equals(digest)) return { ok: false, reason: 'digest-mismatch' };
  const [version = '', model = ''] = strings;
  return { ok: true, version, model, payload };
}
