import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type { NotificationSpec } from '../manifests/index.js';
import {
  DEFAULT_HEARTBEAT_TIMING,
  listCommands,
  PLANNER_LEASE,
  readReplicasView,
} from '../replicas/index.js';
import { readManifestsStatus } from '../store/manifests-status.js';
import type { Database } from '../store/schema.js';
import type { EventStream } from './event-stream.js';
import { intParam, optionalText, type ParamResult } from './query-params.js';
import { DEVICE_STATE_FILTERS, getDevice, isDeviceStateFilter, listDevices } from './read-model/devices.js';
import { listEvents } from './read-model/events.js';
import { listNotifications } from './read-model/notifications.js';
import { getRollout, listRollouts } from './read-model/rollouts.js';
import { sendError, sendJson } from './respond.js';

export const API_PREFIX = '/api/v1/';
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1_000;

type Reply = (status: number, body: unknown) => void;

export interface ApiRoutesOptions {
  /** The replica answering, named in /api/v1/replicas (`self`). */
  readonly replicaId?: string;
  /** A replica silent this long is shown as gone. */
  readonly replicaGoneAfterMs?: number;
  /** The Notifications of the manifests acted on (GET /api/v1/notifications). */
  readonly notifications?: () => ReadonlyMap<string, NotificationSpec> | undefined;
}

/** The read-only JSON resources under /api/v1/. */
export function createApiRoutes(db: Kysely<Database>, events: EventStream, options: ApiRoutesOptions = {}) {
  const ok = <T>(param: ParamResult<T>, reply: Reply): param is { kind: 'ok'; value: T } => {
    if (param.kind === 'invalid') reply(400, { error: param.error });
    return param.kind === 'ok';
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const reply: Reply = (status, body) => sendJson(req, res, status, body);
    const segments = url.pathname
      .slice(API_PREFIX.length)
      .split('/')
      .map((s) => decodeURIComponent(s));
    const params = url.searchParams;
    const [resource, id, extra] = segments;

    if (resource === 'rollouts' && extra === undefined) {
      if (id === undefined || id === '') {
        reply(200, { rollouts: await listRollouts(db) });
        return;
      }
      const rollout = await getRollout(db, id);
      if (rollout) reply(200, rollout);
      else reply(404, { error: `rollout "${id}" not found` });
      return;
    }

    if (resource === 'manifests' && (id === undefined || id === '')) {
      const status = await readManifestsStatus(db);
      if (status) reply(200, status);
      else reply(404, { error: 'no manifests loaded yet' });
      return;
    }

    if (resource === 'notifications' && (id === undefined || id === '')) {
      reply(200, { notifications: await listNotifications(db, options.notifications?.()) });
      return;
    }

    if (resource === 'replicas' && (id === undefined || id === '')) {
      const view = await readReplicasView(
        db,
        PLANNER_LEASE,
        options.replicaGoneAfterMs ?? DEFAULT_HEARTBEAT_TIMING.goneAfterMs,
      );
      reply(200, { ...(options.replicaId ? { self: options.replicaId } : {}), ...view });
      return;
    }

    if (resource === 'commands' && (id === undefined || id === '')) {
      const limit = intParam(params, 'limit', { min: 1, max: MAX_PAGE, fallback: DEFAULT_PAGE });
      if (!ok(limit, reply)) return;
      reply(200, await listCommands(db, limit.value ?? DEFAULT_PAGE));
      return;
    }

    if (resource === 'devices' && extra === undefined) {
      if (id === undefined || id === '') {
        const limit = intParam(params, 'limit', { min: 1, max: MAX_PAGE, fallback: DEFAULT_PAGE });
        if (!ok(limit, reply)) return;
        const state = optionalText(params, 'state');
        if (state !== undefined && !isDeviceStateFilter(state)) {
          reply(400, { error: `state must be one of ${DEVICE_STATE_FILTERS.join(', ')}, got "${state}"` });
          return;
        }
        const page = await listDevices(db, {
          limit: limit.value ?? DEFAULT_PAGE,
          rollout: optionalText(params, 'rollout'),
          state,
          search: optionalText(params, 'search'),
          after: optionalText(params, 'after'),
        });
        reply(200, page);
        return;
      }
      const device = await getDevice(db, id);
      if (device) reply(200, device);
      else reply(404, { error: `device "${id}" not found` });
      return;
    }

    if (resource === 'events' && (id === undefined || id === '' || id === 'stream') && extra === undefined) {
      const since = intParam(params, 'since', { min: 0, max: Number.MAX_SAFE_INTEGER });
      if (!ok(since, reply)) return;
      const rollout = optionalText(params, 'rollout');
      const endpoint = optionalText(params, 'endpoint');
      if (id === 'stream') {
        events.subscribe(req, res, { since: since.value, rollout, endpoint });
        return;
      }
      const limit = intParam(params, 'limit', { min: 1, max: MAX_PAGE, fallback: DEFAULT_PAGE });
      if (!ok(limit, reply)) return;
      reply(
        200,
        await listEvents(db, { since: since.value, rollout, endpoint, limit: limit.value ?? DEFAULT_PAGE }),
      );
      return;
    }

    sendError(req, res, 404, `no such resource: ${url.pathname}`);
  };
}
