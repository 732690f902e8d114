import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { clientAddress } from '../client-address.js';
import { admitSlot, type ShareBounds, type ShareRefusal } from '../fair-share.js';

export interface ServerLimits {
  /** Whole request head must arrive within this (slowloris). Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Whole request must arrive within this. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** A socket with no traffic either way for this long is destroyed (stalled readers). Default 60 s. */
  readonly idleTimeoutMs?: number;
  readonly keepAliveTimeoutMs?: number;
  /**
   * Open connections one client address may always hold. Beyond that it borrows free ones while
   * more than `reservedConnections` stay free (a fleet behind one NAT address downloads from one
   * address); otherwise the connection is answered 503 and closed. Default 16.
   */
  readonly maxConnectionsPerClient?: number;
  /** Open connections in total; more are answered 503 and closed. Default 10,000. */
  readonly maxConnections?: number;
  /**
   * Free connections kept for addresses still within their own share: what greedy addresses
   * cannot borrow, so one that comes later always finds a slot. Default a tenth of maxConnections.
   */
  readonly reservedConnections?: number;
  /** Called for each connection refused by the bounds above. */
  readonly onConnectionRefused?: (reason: ConnectionRefusal) => void;
}

export type ConnectionRefusal = ShareRefusal;

/**
 * Connections the kernel keeps ready until the event loop accepts them (capped by the system's
 * net.core.somaxconn, 4096 on current Linux). Node's default of 511 is overrun when a rollout
 * starts thousands of downloads while the loop is busy for a moment: the kernel then drops the
 * handshakes past it, and a client whose handshake was dropped after it had been answered has its
 * request reset (ECONNRESET; on a device Result 4, and a retry only after the rollout's backoff).
 */
export const LISTEN_BACKLOG = 4096;

/** Where a listening server reports its own errors; the default writes to stderr. */
export interface ServerErrorLog {
  error(fields: object, message: string): void;
}

const STDERR_LOG: ServerErrorLog = {
  error: (fields, message) => console.error(message, fields),
};

/**
 * Listens, and keeps an 'error' listener for as long as the server lives: node emits an accept
 * that failed (EMFILE, ENFILE, ENOMEM) on the server, and without a listener that error would end
 * the process. The listening socket stays open, so the server goes on serving once it passes.
 */
export async function listenServer(
  server: HttpServer | HttpsServer,
  port: number,
  host: string,
  log: ServerErrorLog = STDERR_LOG,
): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  server.on('error', (error: NodeJS.ErrnoException) =>
    log.error(
      { err: error, code: error.code },
      `http server on ${host}:${address.port}: ${error.message}; still serving`,
    ),
  );
  return address;
}

export const DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 16;
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** Room above maxConnections for sockets being answered 503, so node never has to reset one. */
const REFUSAL_HEADROOM = 1_024;
/** A refused client that does not close after the 503 is cut off after this long. */
const REFUSAL_LINGER_MS = 2_000;

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
  const max = limits.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  // node resets connections beyond its own bound; ours answers 503 first.
  server.maxConnections = max + REFUSAL_HEADROOM;
  server.setTimeout(limits.idleTimeoutMs ?? 60_000);
  const bounds: ShareBounds = {
    max,
    share: limits.maxConnectionsPerClient ?? DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
    reserve: limits.reservedConnections ?? Math.ceil(max / 10),
  };
  const open = new Map<string, number>();
  let total = 0;
  const tls = 'setSecureContext' in server;
  server.on('connection', (socket: Socket) => {
    const client = clientAddress(socket.remoteAddress);
    const held = open.get(client) ?? 0;
    // Only accepted connections count: a refused one is on its way out.
    const refusal = admitSlot(bounds, total, held);
    if (refusal === undefined) {
      open.set(client, held + 1);
      total++;
      socket.once('close', () => {
        total--;
        const left = (open.get(client) ?? 1) - 1;
        if (left <= 0) open.delete(client);
        else open.set(client, left);
      });
      return;
    }
    limits.onConnectionRefused?.(refusal);
    // Over TLS no plain-text answer is possible before the handshake: just close.
    if (tls) {
      socket.destroy();
      return;
    }
    socket.end(BUSY_RESPONSE);
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  });
}
