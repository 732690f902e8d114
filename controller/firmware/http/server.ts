import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { loadServerTls } from '../../pki/load-server-tls.js';
import { createFirmwareHttpHandler, type FirmwareHttpHandlerOptions } from './handler.js';
import { hardenServer, listenServer, type ServerErrorLog, type ServerLimits } from './harden-server.js';

export interface FirmwareServerOptions extends Omit<FirmwareHttpHandlerOptions, 'protocol'>, ServerLimits {
  readonly port: number;
  readonly host?: string;
  /** Where errors the server meets once listening go (an accept failing); default stderr. */
  readonly log?: ServerErrorLog;
}

export interface RunningFirmwareServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

type Server = ReturnType<typeof createHttpServer> | ReturnType<typeof createHttpsServer>;

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '10' });
  res.end('not found\n');
}

async function listen(server: Server, options: FirmwareServerOptions): Promise<RunningFirmwareServer> {
  const host = options.host ?? '0.0.0.0';
  const address = await listenServer(server, options.port, host, options.log);
  return {
    port: address.port,
    host,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** How often node checks headersTimeout/requestTimeout; its default (30 s) would let slow clients linger. */
function checkingInterval(limits: ServerLimits): number {
  return Math.max(100, Math.min(1_000, limits.headersTimeoutMs ?? 10_000));
}

function route(handler: ReturnType<typeof createFirmwareHttpHandler>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (!handler(req, res)) notFound(res);
  };
}

/** A standalone firmware HTTP server (tests, or a dedicated port); the controller mounts the handler. */
export async function startFirmwareHttpServer(
  options: FirmwareServerOptions,
): Promise<RunningFirmwareServer> {
  const server = createHttpServer(
    { connectionsCheckingInterval: checkingInterval(options) },
    route(createFirmwareHttpHandler({ ...options, protocol: 'http' })),
  );
  hardenServer(server, options);
  return listen(server, options);
}

export interface FirmwareHttpsServerOptions extends FirmwareServerOptions {
  /** Directory written by `otactl pki init` (server.crt, server.key). */
  readonly tlsDir: string;
}

export async function startFirmwareHttpsServer(
  options: FirmwareHttpsServerOptions,
): Promise<RunningFirmwareServer> {
  const tls = await loadServerTls(options.tlsDir);
  if (tls.kind !== 'ok') throw new Error(tls.message);
  const { cert, key } = tls;
  const server = createHttpsServer(
    { cert, key, minVersion: 'TLSv1.2', connectionsCheckingInterval: checkingInterval(options) },
    route(createFirmwareHttpHandler({ ...options, protocol: 'https' })),
  );
  hardenServer(server, options);
  return listen(server, options);
}
