import type { Kysely } from 'kysely';
import {
  DEFAULT_HEARTBEAT_TIMING,
  PLANNER_LEASE,
  type ReplicasView,
  readReplicasView,
} from '../../replicas/index.js';
import { type ManifestsStatusView, readManifestsStatus } from '../../store/manifests-status.js';
import type { Database } from '../../store/schema.js';
import { getDevice } from '../read-model/devices.js';
import { getRollout, listRollouts } from '../read-model/rollouts.js';
import type { DeviceDetailView, RolloutDetailView } from '../read-model/views.js';

/** What `otactl status` and `history` read, from the database or from a running controller. */
export interface ReadApi {
  rollouts(): Promise<RolloutDetailView[]>;
  rollout(name: string): Promise<RolloutDetailView | undefined>;
  device(endpoint: string): Promise<DeviceDetailView | undefined>;
  /** The replicas on the database and the planner lease; undefined from a controller without them. */
  replicas(): Promise<ReplicasView | undefined>;
  /** The controller's manifests status; undefined before the first load (or from an older controller). */
  manifests(): Promise<ManifestsStatusView | undefined>;
}

export function createDbReadApi(db: Kysely<Database>): ReadApi {
  return {
    async rollouts() {
      const all = await listRollouts(db);
      const details = await Promise.all(all.map((r) => getRollout(db, r.name)));
      return details.filter((d): d is RolloutDetailView => d !== undefined);
    },
    rollout: (name) => getRollout(db, name),
    device: (endpoint) => getDevice(db, endpoint),
    replicas: () => readReplicasView(db, PLANNER_LEASE, DEFAULT_HEARTBEAT_TIMING.goneAfterMs),
    manifests: () => readManifestsStatus(db),
  };
}

/** The controller could not be asked (unreachable, refused the token, answered nonsense); one line. */
export class ApiRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiRequestError';
  }
}

export interface HttpReadApiOptions {
  /** Base URL of the controller's HTTP port, e.g. http://127.0.0.1:8080. */
  readonly server: string;
  readonly token?: string;
  readonly timeoutMs?: number;
}

export function createHttpReadApi(options: HttpReadApiOptions): ReadApi {
  let base: URL;
  try {
    base = new URL(options.server);
  } catch {
    throw new ApiRequestError(`not a URL: ${options.server}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new ApiRequestError(`--server must be an http:// or https:// URL, got ${options.server}`);
  }

  const get = async <T>(path: string): Promise<T | undefined> => {
    const url = new URL(path, base);
    let res: Response;
    try {
      res = await fetch(url, {
        headers: options.token ? { Authorization: `Bearer ${options.token}` } : {},
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw new ApiRequestError(`cannot reach the otactl API at ${base.origin}: ${causeOf(error)}`);
    }
    if (res.status === 404) return undefined;
    if (res.status === 401) {
      throw new ApiRequestError(
        `the otactl API at ${base.origin} refused the request: pass --api-token or set OTACTL_API_TOKEN`,
      );
    }
    if (!res.ok)
      throw new ApiRequestError(
        `the otactl API at ${base.origin} answered ${res.status} for ${url.pathname}`,
      );
    try {
      return (await res.json()) as T;
    } catch {
      throw new ApiRequestError(
        `the server at ${base.origin} did not answer JSON for ${url.pathname}: is it otactl?`,
      );
    }
  };

  const rollout = (name: string) => get<RolloutDetailView>(`/api/v1/rollouts/${encodeURIComponent(name)}`);
  return {
    async rollouts() {
      const list = await get<{ rollouts: { name: string }[] }>('/api/v1/rollouts');
      const details = await Promise.all((list?.rollouts ?? []).map((r) => rollout(r.name)));
      return details.filter((d): d is RolloutDetailView => d !== undefined);
    },
    rollout,
    device: (endpoint) => get<DeviceDetailView>(`/api/v1/devices/${encodeURIComponent(endpoint)}`),
    replicas: () => get<ReplicasView>('/api/v1/replicas'),
    manifests: () => get<ManifestsStatusView>('/api/v1/manifests'),
  };
}

function causeOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as NodeJS.ErrnoException).code;
      return code
        ? `${cause.message.includes(code) ? cause.message : `${code} ${cause.message}`}`
        : cause.message;
    }
    return error.name === 'TimeoutError' ? 'no answer in time' : error.message;
  }
  return String(error);
}
