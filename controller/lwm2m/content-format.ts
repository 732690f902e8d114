/** CoAP Content-Format identifiers used by LwM2M (IANA CoAP registry). */
export const ContentFormat = {
  TEXT: 0,
  LINK_FORMAT: 40,
  OPAQUE: 42,
  SENML_JSON: 110,
  SENML_CBOR: 112,
  TLV: 11542,
  LWM2M_JSON: 11543,
  LWM2M_CBOR: 11544,
} as const;

export type ContentFormatId = (typeof ContentFormat)[keyof typeof ContentFormat];

const names: Readonly<Record<ContentFormatId, string>> = {
  0: 'text/plain',
  40: 'application/link-format',
  42: 'application/octet-stream',
  110: 'application/senml+json',
  112: 'application/senml+cbor',
  11542: 'application/vnd.oma.lwm2m+tlv',
  11543: 'application/vnd.oma.lwm2m+json',
  11544: 'application/vnd.oma.lwm2m+cbor',
};

export function isContentFormatId(n: unknown): n is ContentFormatId {
  return typeof n === 'number' && Object.hasOwn(names, n);
}

/** The media type of a content format, e.g. `application/vnd.oma.lwm2m+tlv`. */
export function contentFormatName(id: ContentFormatId): string {
  return names[id];
}
