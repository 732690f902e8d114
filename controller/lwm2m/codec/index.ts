import { ContentFormat, type ContentFormatId, contentFormatName } from '../content-format.js';
import type { ObjectModel } from '../model/types.js';
import { formatPath, PathError, parsePath, pathDepth } from '../path.js';
import { decodeLwm2mCbor, encodeLwm2mCbor } from './lwm2m-cbor.js';
import { decodeLwm2mJson, encodeLwm2mJson } from './lwm2m-json.js';
import { decodeSenmlCbor, encodeSenmlCbor } from './senml-cbor.js';
import { decodeSenmlJson, encodeSenmlJson } from './senml-json.js';
import { decodeText, encodeText } from './text.js';
import { decodeTlv, encodeTlv } from './tlv.js';
import { type DecodeResult, EncodeError, type ResourceRecord } from './types.js';
import { encodeType, modelType, toBuffer } from './value.js';

export type { DecodeResult, ObjectLink, ResourceRecord, ResourceValue } from './types.js';
export { EncodeError, isObjectLink, objectLink } from './types.js';

/** Formats `encode`/`decode` support. Link format (40) is handled by link-format.ts instead. */
export const SUPPORTED_FORMATS: readonly ContentFormatId[] = [
  ContentFormat.TEXT,
  ContentFormat.OPAQUE,
  ContentFormat.TLV,
  ContentFormat.SENML_JSON,
  ContentFormat.SENML_CBOR,
  ContentFormat.LWM2M_JSON,
  ContentFormat.LWM2M_CBOR,
];

export function isSupportedFormat(format: number): format is ContentFormatId {
  return (SUPPORTED_FORMATS as readonly number[]).includes(format);
}

function singleResource(basePath: string, records: readonly ResourceRecord[], format: ContentFormatId) {
  const name = contentFormatName(format);
  const base = parsePath(basePath);
  if (pathDepth(base) < 3) throw new EncodeError(`${name} needs a resource path, got ${basePath}`);
  if (records.length !== 1) throw new EncodeError(`${name} carries exactly one value, got ${records.length}`);
  const record = records[0]!;
  if (formatPath(parsePath(record.path)) !== formatPath(base)) {
    throw new EncodeError(`${name}: record ${record.path} is not the base path ${basePath}`);
  }
  return record;
}

/**
 * Encodes resource values under `basePath` (an object, instance, resource or resource-instance path).
 * Values are written as the model's type for their path when known, else as their JavaScript type.
 * Throws `EncodeError` (or `PathError`) for a programming error, such as a value that does not fit its type.
 */
export function encode(
  format: ContentFormatId,
  basePath: string,
  records: readonly ResourceRecord[],
  model?: ObjectModel,
): Buffer {
  switch (format) {
    case ContentFormat.TEXT: {
      const r = singleResource(basePath, records, format);
      return encodeText(encodeType(model, r.path, r.value), r.value);
    }
    case ContentFormat.OPAQUE:
      return toBuffer(singleResource(basePath, records, format).value);
    case ContentFormat.TLV:
      return encodeTlv(basePath, records, model);
    case ContentFormat.SENML_JSON:
      return encodeSenmlJson(basePath, records, model);
    case ContentFormat.SENML_CBOR:
      return encodeSenmlCbor(basePath, records, model);
    case ContentFormat.LWM2M_JSON:
      return encodeLwm2mJson(basePath, records, model);
    case ContentFormat.LWM2M_CBOR:
      return encodeLwm2mCbor(basePath, records, model);
    default:
      throw new EncodeError(`content format ${format} (${contentFormatName(format)}) cannot encode values`);
  }
}

/** Decodes a payload received for `basePath`. Never throws: bad bytes give `{ ok: false }`. */
export function decode(
  format: ContentFormatId,
  basePath: string,
  payload: Buffer,
  model?: ObjectModel,
): DecodeResult {
  try {
    return decodeUnsafe(format, basePath, payload, model);
  } catch (err) {
    if (err instanceof PathError) return { ok: false, error: err.message };
    return { ok: false, error: `cannot decode ${contentFormatName(format)}: ${(err as Error).message}` };
  }
}

function decodeUnsafe(
  format: ContentFormatId,
  basePath: string,
  payload: Buffer,
  model: ObjectModel | undefined,
): DecodeResult {
  switch (format) {
    case ContentFormat.TEXT:
    case ContentFormat.OPAQUE: {
      const base = parsePath(basePath);
      if (pathDepth(base) < 3)
        return { ok: false, error: `${contentFormatName(format)} needs a resource path` };
      const path = formatPath(base);
      if (format === ContentFormat.OPAQUE)
        return { ok: true, records: [{ path, value: Buffer.from(payload) }] };
      const decoded = decodeText(modelType(model, path), payload);
      return decoded.ok ? { ok: true, records: [{ path, value: decoded.value }] } : decoded;
    }
    case ContentFormat.TLV:
      return decodeTlv(basePath, payload, model);
    case ContentFormat.SENML_JSON:
      return decodeSenmlJson(payload, model);
    case ContentFormat.SENML_CBOR:
      return decodeSenmlCbor(payload, model);
    case ContentFormat.LWM2M_JSON:
      return decodeLwm2mJson(payload, model);
    case ContentFormat.LWM2M_CBOR:
      return decodeLwm2mCbor(payload, model);
    default:
      return { ok: false, error: `content format ${format} (${contentFormatName(format)}) is not supported` };
  }
}
