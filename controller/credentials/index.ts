/**
 * Device credentials: the pre-shared keys devices authenticate with over DTLS, and the endpoint each
 * identity belongs to. Keys live in the database, never in git; `PskKey` keeps them out of logs.
 */
export { LookupOverloadedError } from './batch-loader.js';
export type { CredentialDirectory, PskCredential } from './credential-directory.js';
export {
  CREDENTIAL_FILE_FORMATS,
  type CredentialField,
  type CredentialFileEntry,
  type CredentialFileFormat,
  type CredentialFileProblem,
  detectCredentialFileFormat,
  formatCredentialFile,
  type ParsedCredentialFile,
  parseCredentialFile,
} from './credential-file.js';
export {
  checkEndpoint,
  checkPskIdentity,
  checkPskKeyLength,
  MAX_ENDPOINT_BYTES,
  MAX_PSK_IDENTITY_BYTES,
  MAX_PSK_KEY_BYTES,
  MIN_PSK_KEY_BYTES,
  parsePskKeyHex,
  pskIdentityFromBytes,
  type RuleCheck,
} from './credential-rules.js';
export {
  type CredentialChange,
  type CredentialInfo,
  type CredentialProblem,
  CredentialStore,
  CredentialStoreError,
  listCredentials,
  type PutCredentialsResult,
  putCredentials,
  removeCredential,
} from './credential-store.js';
export {
  DatabaseCredentialDirectory,
  type DatabaseDirectoryOptions,
  type DatabaseDirectoryStats,
} from './database-directory.js';
export { PskKey } from './psk-key.js';
export { StaticCredentialDirectory } from './static-directory.js';
