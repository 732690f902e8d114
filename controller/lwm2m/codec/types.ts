/** An Objlnk value: a reference to an object instance (`65535:65535` is the null link). */
export interface ObjectLink {
  readonly kind: 'objlnk';
  readonly objectId: number;
  readonly instanceId: number;
}

export type ResourceValue = string | number | bigint | boolean | Buffer | Date | ObjectLink;

export interface ResourceRecord {
  /** Full path of a resource or resource instance, e.g. '/5/0/3' or '/5/0/8/1'. */
  readonly path: string;
  readonly value: ResourceValue;
  /** When the value was measured, if the payload said (SenML/LwM2M JSON absolute times only). */
  readonly time?: Date;
}

export type DecodeResult =
  | { readonly ok: true; readonly records: ResourceRecord[] }
  | { readonly ok: false; readonly error: string };

/** Thrown by `encode` for a programming error (e.g. several records for text/plain). */
export class EncodeError extends Error {
  readonly kind = 'encode-error';
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}

export function objectLink(objectId: number, instanceId: number): ObjectLink {
  return { kind: 'objlnk', objectId, instanceId };
}

export function isObjectLink(v: unknown): v is ObjectLink {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'objlnk';
}
