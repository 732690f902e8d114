/**
 * Device credentials: the pre-shared keys devices authenticate with over DTLS, and the endpoint each
 * identity belongs to. Keys live in the database, never in git; `PskKey` keeps them out of logs.
 */
export type { CredentialDirectory, PskCredential } from './credential-directory.js';
export { PskKey } from './psk-key.js';
export { StaticCredentialDirectory } from './static-directory.js';
