import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { CipherSuite } from '../../../controller/dtls/cipher-suites.js';
import {
  type ClientEstablished,
  type ClientSession,
  DtlsClientConnection,
  type DtlsClock,
} from '../../../controller/dtls/index.js';
import type { RetransmitPolicy } from '../../../controller/dtls/retransmit-timer.js';

export interface TestClientOptions {
  readonly serverPort: number;
  /** Default 127.0.0.1 (a relay may listen on another loopback address). */
  readonly serverHost?: string;
  readonly identity: string;
  readonly key: Buffer;
  readonly suites?: readonly CipherSuite[];
  readonly resume?: ClientSession;
  readonly clock?: DtlsClock;
  readonly retransmit?: Partial<RetransmitPolicy>;
  /** Application data sent in the datagram of the client's Finished. */
  readonly firstData?: Buffer;
}

export type ClientOutcome =
  | { readonly kind: 'established'; readonly info: ClientEstablished }
  | { readonly kind: 'closed'; readonly reason: string };

/** Our DTLS client on a socket of its own (127.0.0.1, port 0), talking to one server port. */
export class TestClient {
  readonly received: string[] = [];
  readonly outcome: Promise<ClientOutcome>;
  readonly closed: Promise<string>;
  readonly connection: DtlsClientConnection;
  readonly #waiters: ((text: string) => void)[] = [];

  private constructor(
    readonly socket: Socket,
    opts: TestClientOptions,
  ) {
    let settle: (o: ClientOutcome) => void = () => {};
    let closedWith: (reason: string) => void = () => {};
    this.outcome = new Promise((resolve) => {
      settle = resolve;
    });
    this.closed = new Promise((resolve) => {
      closedWith = resolve;
    });
    this.connection = new DtlsClientConnection({
      credentials: { identity: Buffer.from(opts.identity), key: opts.key },
      ...(opts.suites ? { cipherSuites: opts.suites } : {}),
      ...(opts.resume ? { resume: opts.resume } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.retransmit ? { retransmit: opts.retransmit } : {}),
      ...(opts.firstData ? { firstData: opts.firstData } : {}),
      send: (datagram) => socket.send(datagram, opts.serverPort, opts.serverHost ?? '127.0.0.1'),
      handlers: {
        established: (info) => settle({ kind: 'established', info }),
        data: (data) => {
          const text = data.toString();
          this.received.push(text);
          this.#waiters.shift()?.(text);
        },
        closed: (reason) => {
          settle({ kind: 'closed', reason });
          closedWith(reason);
        },
      },
    });
    socket.on('message', (datagram) => this.connection.receive(datagram));
  }

  static async connect(opts: TestClientOptions): Promise<TestClient> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const client = new TestClient(socket, opts);
    client.connection.start();
    return client;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** The next application datagram from the server. */
  next(): Promise<string> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async close(): Promise<void> {
    this.connection.close('test over', false);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
