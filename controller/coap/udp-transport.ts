import type { Socket } from 'node:dgram';
import { udpSender } from './datagram-sender.js';
import type { DatagramTransport } from './transport.js';

/** Plain CoAP on a bound UDP socket: datagrams come with no identity. */
export function udpTransport(socket: Socket, onError: (err: Error) => void): DatagramTransport {
  return {
    security: 'none',
    sender: udpSender(socket),
    listen(receive) {
      socket.on('message', (datagram, rinfo) => receive(datagram, rinfo));
      socket.on('error', onError);
    },
    address: () => socket.address(),
    close: () =>
      new Promise<void>((resolve) => {
        try {
          socket.close(() => resolve());
        } catch {
          resolve();
        }
      }),
  };
}
