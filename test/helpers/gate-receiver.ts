import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GateRequestSeen {
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
}

/**
 * A local HTTP receiver for gate questions: records each POST (parsed JSON) and answers with
 * whatever `respond` does at the time (tests switch it between refusals and a pass).
 */
export class GateReceiver {
  readonly requests: GateRequestSeen[] = [];
  respond: (res: ServerResponse) => void = (res) => res.writeHead(200).end('ok');
  readonly #server: Server;
  #waiters: { count: number; resolve: () => void }[] = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<GateReceiver> {
    const server = createServer();
    const receiver = new GateReceiver(server);
    server.on('request', (req, res) => receiver.#handle(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/gate`;
  }

  /** Resolves once `count` requests in all have arrived. */
  received(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      this.requests.push({ headers: req.headers, body: text === '' ? undefined : JSON.parse(text) });
      this.respond(res);
      const ready = this.#waiters.filter((w) => this.requests.length >= w.count);
      this.#waiters = this.#waiters.filter((w) => this.requests.length < w.count);
      for (const w of ready) w.resolve();
    });
  }
}
