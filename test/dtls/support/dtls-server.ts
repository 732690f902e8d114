import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { DtlsClock } from '../../../controller/dtls/clock.js';
import {
  DtlsEndpoint,
  type DtlsEndpointEvents,
  type DtlsEndpointOptions,
  type DtlsPeer,
} from '../../../controller/dtls/index.js';

export const KEYS: Record<string, Buffer> = {
  'device-1': Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
  // node-dtls-client takes its keys as ASCII text.
  'device-2': Buffer.from('secret-key-0002!', 'ascii'),
};

export interface Received {
  readonly text: string;
  readonly peer: DtlsPeer;
}

/** An endpoint on 127.0.0.1 port 0 that answers every datagram with `pong:` and the text. */
export class TestServer {
  readonly received: Received[] = [];
  readonly lookups: string[] = [];

  private constructor(readonly endpoint: DtlsEndpoint) {
    endpoint.on('message', (data, peer) => {
      this.received.push({ text: data.toString(), peer });
      endpoint.send(Buffer.from(`pong:${data.toString()}`), peer.port, peer.address);
    });
  }

  static async start(
    opts: Partial<Omit<DtlsEndpointOptions, 'socket'>> & {
      readonly clock?: DtlsClock;
      readonly ipv6?: boolean;
    } = {},
  ): Promise<TestServer> {
    const socket = createSocket(opts.ipv6 ? 'udp6' : 'udp4');
    socket.bind(0, opts.ipv6 ? '::1' : '127.0.0.1');
    await once(socket, 'listening');
    let server: TestServer | undefined;
    const endpoint = new DtlsEndpoint({
      sweepMs: 0,
      ...opts,
      socket,
      lookupPsk:
        opts.lookupPsk ??
        (async (identity) => {
          server?.lookups.push(identity.toString());
          return KEYS[identity.toString()];
        }),
    });
    server = new TestServer(endpoint);
    return server;
  }

  get port(): number {
    return this.endpoint.address().port;
  }

  close(): Promise<void> {
    return this.endpoint.close({ notify: false });
  }
}

/** Resolves with the arguments of the first `event` whose arguments pass `match`. */
export function waitFor<E extends keyof DtlsEndpointEvents>(
  endpoint: DtlsEndpoint,
  event: E,
  match: (...args: DtlsEndpointEvents[E]) => boolean = () => true,
): Promise<DtlsEndpointEvents[E]> {
  return new Promise((resolve) => {
    const listener = (...args: DtlsEndpointEvents[E]): void => {
      if (!match(...args)) return;
      endpoint.off(event, listener as never);
      resolve(args);
    };
    endpoint.on(event, listener as never);
  });
}
