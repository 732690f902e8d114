import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookRequest {
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
  readonly raw: string;
  /** The status answered. */
  readonly status: number;
}

/**
 * A local HTTP receiver for webhooks (gates, notifications): records each POST (parsed JSON, with
 * the raw body and the status answered) and answers with whatever `respond` does at the time
 * (tests switch it between refusals and acceptance).
 */
export class WebhookReceiver {
  readonly requests: WebhookRequest[] = [];
  /** Answers a request; `body` is its parsed JSON (tests answer some events differently). */
  respond: (res: ServerResponse, body: unknown) => void = (res) => res.writeHead(200).end('ok');
  readonly #server: Server;
  #waiters: { done: () => boolean; resolve: () => void }[] = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server);
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
    return this.receivedWhen(() => this.requests.length >= count);
  }

  /** Resolves once `done` holds, looked at now and after each request. */
  receivedWhen(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ done, resolve }));
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
      const body: unknown = text === '' ? undefined : JSON.parse(text);
      this.respond(res, body);
      this.requests.push({
        headers: req.headers,
        body,
        raw: text,
        status: res.statusCode,
      });
      const ready = this.#waiters.filter((w) => w.done());
      this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
      for (const w of ready) w.resolve();
    });
  }
}
