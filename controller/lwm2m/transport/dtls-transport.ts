import type { Socket } from 'node:dgram';
import type { Peer } from '../../coap/address.js';
import type { DatagramTransport } from '../../coap/transport.js';
import { type CredentialDirectory, pskIdentityFromBytes } from '../../credentials/index.js';
import { DtlsEndpoint, type DtlsEndpointOptions } from '../../dtls/index.js';

export type DtlsTransportOptions = Omit<DtlsEndpointOptions, 'socket' | 'lookupPsk'>;

/**
 * CoAP over DTLS with pre-shared keys (coaps://): a DTLS endpoint on its own socket, keys looked up
 * in the credential directory. Every datagram comes with the identity its session authenticated, and
 * every datagram sent goes through the peer's session (none: the send fails, as to a dead device).
 */
export function dtlsTransport(opts: {
  readonly socket: Socket;
  readonly credentials: CredentialDirectory;
  readonly dtls?: DtlsTransportOptions;
}): { readonly transport: DatagramTransport; readonly endpoint: DtlsEndpoint } {
  const { credentials } = opts;
  const endpoint = new DtlsEndpoint({
    ...opts.dtls,
    socket: opts.socket,
    lookupPsk: async (identity) => {
      const text = pskIdentityFromBytes(identity);
      if (text === undefined) return undefined;
      return (await credentials.byIdentity(text))?.key.bytes();
    },
  });
  const transport: DatagramTransport = {
    security: 'psk',
    sender: endpoint.datagramSender(),
    listen(receive) {
      endpoint.on('message', (datagram, dtlsPeer) => {
        const identity = pskIdentityFromBytes(dtlsPeer.identity);
        if (identity === undefined) return;
        const peer: Peer = { address: dtlsPeer.address, port: dtlsPeer.port, identity };
        receive(datagram, peer);
      });
    },
    address: () => endpoint.address(),
    close: () => endpoint.close({ notify: true }),
  };
  return { transport, endpoint };
}
