/** Wire constants of DTLS 1.2 (RFC 6347, RFC 5246) used by the server endpoint. */

export const ContentType = {
  changeCipherSpec: 20,
  alert: 21,
  handshake: 22,
  applicationData: 23,
  /** RFC 9146: a record carrying a connection id (not negotiated yet). */
  tls12Cid: 25,
} as const;

export const HandshakeType = {
  helloRequest: 0,
  clientHello: 1,
  serverHello: 2,
  helloVerifyRequest: 3,
  serverKeyExchange: 12,
  serverHelloDone: 14,
  clientKeyExchange: 16,
  finished: 20,
} as const;

export const AlertLevel = { warning: 1, fatal: 2 } as const;

export const AlertDescription = {
  closeNotify: 0,
  unexpectedMessage: 10,
  badRecordMac: 20,
  handshakeFailure: 40,
  illegalParameter: 47,
  decodeError: 50,
  decryptError: 51,
  protocolVersion: 70,
  internalError: 80,
  noRenegotiation: 100,
  unsupportedExtension: 110,
  unknownPskIdentity: 115,
} as const;

export const ExtensionType = {
  encryptThenMac: 22,
  extendedMasterSecret: 23,
  sessionTicket: 35,
  connectionId: 54,
  renegotiationInfo: 0xff01,
} as const;

/** DTLS 1.2 and 1.0 on the wire (one's complement of 1.2 and 1.1). */
export const DTLS_1_2 = 0xfefd;
export const DTLS_1_0 = 0xfeff;

/** TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746). */
export const EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;

/** Largest plaintext of one record (RFC 5246 6.2.1). */
export const MAX_PLAINTEXT = 16_384;
/** Largest protected fragment of one record (RFC 5246 6.2.3). */
export const MAX_CIPHERTEXT = MAX_PLAINTEXT + 2048;
