import { once } from 'node:events';
import { dtls } from 'node-dtls-client';
import { KEYS } from './dtls-server.js';

export type NodeClientCipher = NonNullable<dtls.Options['ciphers']>[number];

export interface NodeClientOptions {
  readonly cipher?: NodeClientCipher;
  /** ASCII key (node-dtls-client's form); device-2's by default. */
  readonly key?: string;
  readonly identity?: string;
}

/** node-dtls-client 1.1.1, an independent DTLS client, once its handshake succeeded or failed. */
export async function connectNodeClient(
  port: number,
  opts: NodeClientOptions = {},
): Promise<{ readonly socket: dtls.Socket; readonly outcome: string }> {
  const socket = dtls.createSocket({
    type: 'udp4',
    address: '127.0.0.1',
    port,
    psk: { [opts.identity ?? 'device-2']: opts.key ?? KEYS['device-2']!.toString('ascii') },
    timeout: 10_000,
    ciphers: [opts.cipher ?? 'TLS_PSK_WITH_AES_128_CCM_8'],
  });
  const failed = new Promise<string>((resolve) => socket.on('error', (err: Error) => resolve(err.message)));
  const outcome = await Promise.race([once(socket, 'connected').then(() => 'connected'), failed]);
  return { socket, outcome };
}

/** The next datagram the client receives, as text. */
export function nextMessage(socket: dtls.Socket): Promise<string> {
  return once(socket, 'message').then(([msg]) => (msg as Buffer).toString());
}
