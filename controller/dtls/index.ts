export {
  CIPHER_SUITES,
  type CipherSuite,
  TLS_PSK_WITH_AES_128_CBC_SHA256,
  TLS_PSK_WITH_AES_128_CCM_8,
} from './cipher-suites.js';
export { type DtlsClock, systemClock } from './clock.js';
export {
  DEFAULT_DTLS_LIMITS,
  type DtlsDatagramSender,
  DtlsEndpoint,
  type DtlsEndpointEvents,
  type DtlsEndpointOptions,
  type DtlsLimits,
  type DtlsPeer,
  type DtlsStats,
} from './dtls-endpoint.js';
export type { PskLookup } from './server-handshake.js';
