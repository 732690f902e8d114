/**
 * A DTLS 1.2 server for pre-shared keys (RFC 6347, RFC 4279, RFC 6655), on Node's crypto only.
 *
 * `DtlsEndpoint` owns one UDP socket: `message` events carry each decrypted datagram with its
 * sender and the PSK identity its session authenticated; `send` / `datagramSender()` encrypt for
 * a peer's session. Suites TLS_PSK_WITH_AES_128_CCM_8 and TLS_PSK_WITH_AES_128_CBC_SHA256;
 * stateless cookies, extended master secret, resumption by session id, no renegotiation, no
 * compression. Event listeners must not throw: an exception is counted in `stats().internalErrors`
 * and the rest of that datagram is dropped.
 *
 * `DtlsClientConnection` is the client side (for the simulator and the bench): it owns no socket,
 * offers CCM-8 (or the suites given), answers the cookie round, resumes a `ClientSession`.
 *
 * Not yet: RFC 9146 connection ids (the record codec takes a CID length, the AEAD additional data
 * is built in one place), ECDHE-ECDSA and raw public keys (`KeyExchange` in cipher-suites.ts),
 * session tickets.
 */
export {
  CIPHER_SUITES,
  type CipherSuite,
  TLS_PSK_WITH_AES_128_CBC_SHA256,
  TLS_PSK_WITH_AES_128_CCM_8,
} from './cipher-suites.js';
export {
  DtlsClientConnection,
  type DtlsClientHandlers,
  type DtlsClientOptions,
} from './client-connection.js';
export type { ClientEstablished, ClientSession, PskCredentials } from './client-handshake.js';
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
