import { createSocket, type Socket } from 'node:dgram';

export type UdpFamily = 'udp4' | 'udp6';

export interface BindOptions {
  readonly port: number;
  /** Defaults to '::' (udp6, also serving IPv4) or '0.0.0.0' for udp4. */
  readonly host?: string;
  readonly family?: UdpFamily;
  /** Receive buffer to ask the kernel for; registration storms overflow the default. */
  readonly receiveBufferBytes?: number;
}

export interface BoundSocket {
  readonly socket: Socket;
  /** Set when the receive buffer could not be raised (the kernel caps it); not fatal. */
  readonly receiveBufferWarning?: string;
}

export type BindResult =
  | { readonly kind: 'ok'; readonly bound: BoundSocket }
  /** `cause`: the socket's error (code EADDRINUSE, syscall bind, port). */
  | { readonly kind: 'error'; readonly message: string; readonly cause: Error };

/** Binds one UDP socket for the CoAP server and the downlink requester. */
export function bindUdpSocket(opts: BindOptions): Promise<BindResult> {
  const family = opts.family ?? (opts.host?.includes('.') ? 'udp4' : 'udp6');
  const host = opts.host ?? (family === 'udp6' ? '::' : '0.0.0.0');
  const socket = createSocket({ type: family, ipv6Only: false });
  return new Promise((resolve) => {
    const onError = (err: Error) => {
      socket.close();
      resolve({ kind: 'error', message: `cannot bind ${host}:${opts.port}: ${err.message}`, cause: err });
    };
    socket.once('error', onError);
    socket.bind(opts.port, host, () => {
      socket.off('error', onError);
      let receiveBufferWarning: string | undefined;
      const wanted = opts.receiveBufferBytes ?? 4 * 1024 * 1024;
      try {
        socket.setRecvBufferSize(wanted);
      } catch (err) {
        receiveBufferWarning = `receive buffer not raised to ${wanted} bytes: ${(err as Error).message}`;
      }
      resolve({ kind: 'ok', bound: { socket, ...(receiveBufferWarning ? { receiveBufferWarning } : {}) } });
    });
  });
}
