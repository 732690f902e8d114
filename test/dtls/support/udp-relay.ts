import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

/**
 * A UDP hop between one client and the server on 127.0.0.1 that records what the client sends, so a
 * test can replay or tamper with real records. The server sees the relay's port as the client's.
 */
export class UdpRelay {
  readonly fromClient: Buffer[] = [];
  #client: { address: string; port: number } | undefined;
  /** When set, datagrams from the client are replaced by what it returns (undefined: dropped). */
  tamper: ((datagram: Buffer) => Buffer | undefined) | undefined;
  /** When true, the server's datagrams are kept for `nextFromServer` instead of forwarded. */
  holdFromServer = false;
  readonly #held: Buffer[] = [];
  readonly #waiting: ((datagram: Buffer) => void)[] = [];

  private constructor(
    readonly socket: Socket,
    readonly serverPort: number,
  ) {
    socket.on('message', (datagram, rinfo) => {
      if (rinfo.port === serverPort) {
        if (this.holdFromServer) {
          const waiter = this.#waiting.shift();
          if (waiter) waiter(datagram);
          else this.#held.push(datagram);
        } else if (this.#client) socket.send(datagram, this.#client.port, this.#client.address);
        return;
      }
      this.#client = { address: rinfo.address, port: rinfo.port };
      this.fromClient.push(datagram);
      const out = this.tamper ? this.tamper(datagram) : datagram;
      if (out !== undefined) socket.send(out, serverPort, '127.0.0.1');
    });
  }

  /** `host`: the relay's own address, the one the server sees (any of 127.0.0.0/8). */
  static async start(serverPort: number, host = '127.0.0.1'): Promise<UdpRelay> {
    const socket = createSocket('udp4');
    socket.bind(0, host);
    await once(socket, 'listening');
    return new UdpRelay(socket, serverPort);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Sends a datagram to the server as if the client had. */
  inject(datagram: Buffer): void {
    this.socket.send(datagram, this.serverPort, '127.0.0.1');
  }

  /** Sends a datagram to the client as if the server had (one kept while `holdFromServer` is set). */
  toClient(datagram: Buffer): void {
    if (this.#client) this.socket.send(datagram, this.#client.port, this.#client.address);
  }

  /** The next datagram from the server kept while `holdFromServer` is set. */
  nextFromServer(): Promise<Buffer> {
    const held = this.#held.shift();
    if (held) return Promise.resolve(held);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
