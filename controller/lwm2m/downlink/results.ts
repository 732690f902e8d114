import type { ResourceRecord } from '../codec/index.js';
import type { Link } from '../link-format.js';

/** Why a request got no answer from the device. */
export type Failure =
  /** The device answered with a CoAP error code (4.xx, 5.xx). */
  | { readonly kind: 'error'; readonly code: string; readonly message: string | undefined }
  /** No answer after all retransmissions (or the per-request deadline). */
  | { readonly kind: 'timeout' }
  /** Not registered, reset by the device, queue full, server stopped... */
  | { readonly kind: 'unreachable'; readonly reason: string }
  /** The device answered success but the payload does not decode, or the request could not be encoded. */
  | { readonly kind: 'invalid'; readonly reason: string };

export type ReadResult =
  | {
      readonly kind: 'ok';
      readonly code: string;
      readonly format: number | undefined;
      readonly records: ResourceRecord[];
      readonly raw: Buffer;
    }
  | Failure;

export type DiscoverResult =
  | { readonly kind: 'ok'; readonly code: string; readonly links: readonly Link[]; readonly raw: Buffer }
  | Failure;

/** Write, Execute and cancel answers carry only a code. */
export type ChangeResult = { readonly kind: 'ok'; readonly code: string } | Failure;

/** A notification of an observed path, decoded. An `error` ends the observation. */
export type NotificationResult =
  | {
      readonly kind: 'ok';
      readonly code: string;
      readonly format: number | undefined;
      readonly records: ResourceRecord[];
      readonly raw: Buffer;
      readonly sequence: number | undefined;
    }
  | { readonly kind: 'error'; readonly code: string; readonly message: string | undefined }
  | { readonly kind: 'invalid'; readonly reason: string };

export interface Observation {
  readonly endpoint: string;
  readonly path: string;
  /** Stops the observation; `active` also tells the device (GET with Observe=1). */
  cancel(opts?: { readonly active?: boolean }): Promise<void>;
}

export type ObserveResult =
  | (ReadResult & { readonly kind: 'ok'; readonly observation: Observation })
  | Failure;
