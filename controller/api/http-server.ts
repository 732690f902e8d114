import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  hardenServer,
  listenServer,
  type ServerErrorLog,
  type ServerLimits,
} from '../firmware/http/harden-server.js';

export interface HttpServerOptions extends ServerLimits {
  readonly port: number;
  /** Default 0.0.0.0. */
  readonly host?: string;
  readonly app: ((req: IncomingMessage, res: ServerResponse) => void) & { close?(): void };
  /** Where errors the server meets once listening go (an accept failing); default stderr. */
  readonly log?: ServerErrorLog;
}

export interface RunningHttpServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/** The controller's HTTP port: API, metrics, dashboard and firmware, with the firmware server's limits. */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const server = createServer({ connectionsCheckingInterval: 1_000 }, options.app);
  hardenServer(server, options);
  const host = options.host ?? '0.0.0.0';
  const { port } = await listenServer(server, options.port, host, options.log);
  return {
    port,
    host,
    close: () =>
      new Promise<void>((resolve, reject) => {
        options.app.close?.();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
