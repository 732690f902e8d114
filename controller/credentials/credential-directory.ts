import type { PskKey } from './psk-key.js';

/** What authenticates one device over DTLS with a pre-shared key. */
export interface PskCredential {
  /** The LwM2M endpoint name this identity may register as, and only this one. */
  readonly endpoint: string;
  /** The PSK identity (RFC 4279), UTF-8 text as LwM2M's Security object 0/x/3 carries it. */
  readonly identity: string;
  readonly key: PskKey;
}

/**
 * Where the LwM2M and DTLS layers look credentials up. Asynchronous because the answer comes from
 * the database (behind a bounded cache) in the controller: a 100k-device table is never loaded
 * whole.
 */
export interface CredentialDirectory {
  /** The credential a PSK identity names, or undefined when no device has it. */
  byIdentity(identity: string): Promise<PskCredential | undefined>;
  /** Whether the endpoint has credentials: such an endpoint is refused over plain CoAP. */
  hasCredentials(endpoint: string): Promise<boolean>;
}
