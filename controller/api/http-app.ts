import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import { serveDashboard } from '../dashboard/serve-dashboard.js';
import type { DownloadStats } from '../firmware/download-stats.js';
import type { FirmwareHttpHandler } from '../firmware/http/handler.js';
import type { Logger } from '../log/create-logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Database } from '../store/schema.js';
import { API_PREFIX, type ApiRoutesOptions, createApiRoutes } from './api-routes.js';
import { createTokenCheck } from './bearer-token.js';
import { checkDatabase } from './database-check.js';
import { createEventStream } from './event-stream.js';
import { readRequestTarget } from './request-target.js';
import { sendError, sendJson, sendText } from './respond.js';

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready (empty when ready). */
  readonly reasons: readonly string[];
}

export interface HttpAppOptions {
  readonly db: Kysely<Database>;
  readonly metrics?: Metrics;
  /** Serves /binaries/...; mounted before everything else. */
  readonly firmwareHandler?: FirmwareHttpHandler;
  /**
   * When set, /api/* and /metrics need `Authorization: Bearer <token>`. /healthz and /readyz
   * stay open for probes, / (the page holds no data: it asks for the token) and /binaries
   * (guarded by signed links) too.
   */
  readonly apiToken?: string;
  /** The controller's own readiness (manifests loaded, servers listening, ...). */
  readonly readiness?: () => Readiness;
  readonly logger?: Logger;
  /** Bound on the /readyz database probe. Default 1 s. */
  readonly databaseCheckTimeoutMs?: number;
  /** Event stream polling interval. Default 1 s. */
  readonly eventPollMs?: number;
  /** Concurrent /api/v1/events/stream listeners. Default 32. */
  readonly maxStreamSubscribers?: number;
  /** Concurrent event stream listeners from one client address. Default 4. */
  readonly maxStreamSubscribersPerAddress?: number;
  /** An event stream listener whose socket takes nothing for this long is closed. Default 30 s. */
  readonly streamStallMs?: number;
  /** Bytes waiting for one event stream listener before it is closed. Default 1 MiB. */
  readonly streamMaxQueuedBytes?: number;
  /**
   * GET /api/v1/plan: what the controller would do now. Returns undefined while no valid
   * manifests are loaded (answered 409).
   */
  readonly plan?: () => Promise<unknown | undefined>;
  /**
   * GET /api/v1/downloads: downloads in progress with bytes sent and size (a progress figure for
   * devices that report none), and bytes served per file and per device.
   */
  readonly downloads?: DownloadStats;
  /** This replica's id and when replicas count as gone (GET /api/v1/replicas). */
  readonly replicas?: ApiRoutesOptions;
}

/** A node:http request listener; `close()` ends open event streams and stops their polling. */
export interface HttpApp {
  (req: IncomingMessage, res: ServerResponse): void;
  close(): void;
}

const READ_METHODS = new Set(['GET', 'HEAD']);

export function createHttpApp(options: HttpAppOptions): HttpApp {
  const { db, logger } = options;
  const isAuthorized = options.apiToken ? createTokenCheck(options.apiToken) : () => true;
  const events = createEventStream({
    db,
    pollMs: options.eventPollMs,
    maxSubscribers: options.maxStreamSubscribers,
    maxSubscribersPerAddress: options.maxStreamSubscribersPerAddress,
    stallMs: options.streamStallMs,
    maxQueuedBytes: options.streamMaxQueuedBytes,
    logger,
    onDrop: (reason) => options.metrics?.eventStreamsDropped.inc({ reason }),
  });
  const api = createApiRoutes(db, events, options.replicas);
  const checkTimeout = options.databaseCheckTimeoutMs ?? 1_000;

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const path = url.pathname;
    if (path === '/healthz') {
      sendJson(req, res, 200, { status: 'ok' });
      return;
    }
    if (path === '/readyz') {
      const own = options.readiness?.() ?? { ready: true, reasons: [] };
      const database = await checkDatabase(db, checkTimeout);
      const reasons = [...own.reasons, ...(database.kind === 'failed' ? [database.reason] : [])];
      const ready = own.ready && database.kind === 'ok';
      sendJson(req, res, ready ? 200 : 503, { ready, reasons });
      return;
    }
    const guarded = path === '/metrics' || path.startsWith('/api/');
    if (guarded && !isAuthorized(req)) {
      sendError(req, res, 401, 'missing or wrong bearer token', {
        'WWW-Authenticate': 'Bearer realm="otactl"',
      });
      return;
    }
    if (path === '/metrics') {
      if (!options.metrics) {
        sendError(req, res, 404, 'metrics are not enabled');
        return;
      }
      sendText(req, res, 200, await options.metrics.render(), options.metrics.contentType);
      return;
    }
    if (path === `${API_PREFIX}downloads` && options.downloads) {
      const stats = options.downloads;
      sendJson(req, res, 200, {
        inProgress: stats.inProgress().map((d) => ({
          ...d,
          progress: d.size > 0 ? d.bytesSent / d.size : null,
          startedAt: new Date(d.startedAt).toISOString(),
        })),
        ...waitingView(stats),
        bytesByFile: Object.fromEntries(stats.bytesByFile()),
        bytesByDevice: Object.fromEntries(stats.bytesByDevice()),
      });
      return;
    }
    if (path === `${API_PREFIX}plan` && options.plan) {
      const plan = await options.plan();
      if (plan === undefined) sendError(req, res, 409, 'no valid manifests are loaded');
      else sendJson(req, res, 200, plan);
      return;
    }
    if (path.startsWith(API_PREFIX)) {
      await api(req, res, url);
      return;
    }
    if (path === '/' || path === '/index.html') {
      serveDashboard(req, res);
      return;
    }
    sendError(req, res, 404, `not found: ${path}`);
  };

  const app = (req: IncomingMessage, res: ServerResponse): void => {
    if (options.firmwareHandler?.(req, res)) return;
    if (!READ_METHODS.has(req.method ?? '')) {
      sendError(req, res, 405, `method ${req.method} not allowed: this API is read-only`, {
        Allow: 'GET, HEAD',
      });
      return;
    }
    const target = readRequestTarget(req.url ?? '/');
    if (target.kind === 'invalid') {
      sendError(req, res, 400, target.error);
      return;
    }
    const { url } = target;
    handle(req, res, url).catch((error: unknown) => {
      logger?.error({ err: error, path: url.pathname }, 'http request failed');
      if (!res.headersSent) sendError(req, res, 500, 'internal error; see the controller log');
      else res.destroy();
    });
  };
  return Object.assign(app, { close: () => events.close() });
}

/** The oldest waits listed one by one; past that only counted (a NAT'd fleet may queue thousands). */
const WAITING_LISTED = 100;

/** Downloads queued behind their address's running ones (`--max-downloads-per-client`). */
function waitingView(stats: DownloadStats) {
  const waiting = stats.waiting();
  const byClient: Record<string, number> = {};
  for (const w of waiting) byClient[w.client] = (byClient[w.client] ?? 0) + 1;
  const totals = stats.waitTotals();
  return {
    waiting: waiting.slice(0, WAITING_LISTED).map((w) => ({ ...w, since: new Date(w.since).toISOString() })),
    waitingCount: waiting.length,
    waitingByClient: byClient,
    waitsEnded: totals.count,
    meanWaitSeconds: totals.count > 0 ? totals.seconds / totals.count : null,
  };
}
