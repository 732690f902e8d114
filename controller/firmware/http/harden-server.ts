import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { normalizeAddress } from '../client-address.js';

export interface ServerLimits {
  /** Whole request head must arrive within this (slowloris). Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Whole request must arrive within this. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** A socket with no traffic either way for this long is destroyed (stalled readers). Default 60 s. */
  readonly idleTimeoutMs?: number;
  readonly keepAliveTimeoutMs?: number;
  /** Open connections one client address may hold; extra ones are answered 503 and closed. Default 8. */
  readonly maxConnectionsPerClient?: number;
  /** Open connections in total. Default 10,000. */
  readonly maxConnections?: number;
}

export const DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 8;

const BUSY_RESPONSE =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 5\r\n\r\n';

/** Timeouts and connection bounds against slow or greedy clients; usable on the shared API server too. */
export function hardenServer(server: HttpServer | HttpsServer, limits: ServerLimits = {}): void {
  // Small embedded HTTP stacks half-close their socket right after the request. With Node's
  // default the request is then aborted before an asynchronous answer (every firmware answer is
  // one) is written, and the device never gets a byte. (Node's own, long-standing http.Server
  // property; @types/node does not declare it.)
  (server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.headersTimeout = limits.headersTimeoutMs ?? 10_000;
  server.requestTimeout = limits.requestTimeoutMs ?? 30_000;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs ?? 5_000;
  server.maxConnections = limits.maxConnections ?? 10_000;
  server.setTimeout(limits.idleTimeoutMs ?? 60_000);
  const perClient = limits.maxConnectionsPerClient ?? DEFAULT_MAX_CONNECTIONS_PER_CLIENT;
  const open = new Map<string, number>();
  const tls = 'setSecureContext' in server;
  server.on('connection', (socket: Socket) => {
    const client = normalizeAddress(socket.remoteAddress);
    const count = (open.get(client) ?? 0) + 1;
    open.set(client, count);
    socket.once('close', () => {
      const left = (open.get(client) ?? 1) - 1;
      if (left <= 0) open.delete(client);
      else open.set(client, left);
    });
    if (count > perClient) {
      // Over TLS no plain-text answer is possible before the handshake: just close.
      if (tls) socket.destroy();
      else socket.end(BUSY_RESPONSE);
    }
  });
}
