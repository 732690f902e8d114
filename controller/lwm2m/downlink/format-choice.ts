import { ContentFormat, type ContentFormatId } from '../content-format.js';
import type { Registration } from '../registration/registration.js';

const MULTI_VALUE_PREFERENCE: readonly ContentFormatId[] = [
  ContentFormat.SENML_CBOR,
  ContentFormat.SENML_JSON,
  ContentFormat.TLV,
  ContentFormat.LWM2M_JSON,
];

/**
 * Formats to try for values under a path, best first: the SenML formats and TLV the device announced with
 * `ct` on its root link; else SenML CBOR, SenML JSON then TLV for 1.1+ and TLV then LwM2M JSON for 1.0.
 * Single resources end with text/plain, which every client speaks.
 */
export function formatCandidates(reg: Registration, singleResource: boolean): ContentFormatId[] {
  const announced = reg.contentFormats;
  let out: ContentFormatId[];
  if (announced?.some((f) => MULTI_VALUE_PREFERENCE.includes(f as ContentFormatId))) {
    out = MULTI_VALUE_PREFERENCE.filter((f) => announced.includes(f));
    if (!out.includes(ContentFormat.TLV) && reg.lwm2mVersion === '1.0') out.push(ContentFormat.TLV);
  } else if (reg.lwm2mVersion === '1.0') {
    out = [ContentFormat.TLV, ContentFormat.LWM2M_JSON];
  } else {
    out = [ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON, ContentFormat.TLV];
  }
  if (singleResource) out.push(ContentFormat.TEXT);
  return out;
}

/** Answers that mean "not in this format": try the next candidate. */
export function isFormatRejection(code: string): boolean {
  return code === '4.06' || code === '4.15';
}
