import type { Kysely } from 'kysely';
import {
  type ApiRoutesOptions,
  createHttpApp,
  type Readiness,
  type RunningHttpServer,
  startHttpServer,
} from '../api/index.js';
import { createFirmwareHttpHandler, type ServerLimits } from '../firmware/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { Database } from '../store/index.js';
import { type FirmwareServing, firmwareHandlerOptions } from './firmware-serving.js';
import { ResourcePart } from './resource-part.js';

export interface HttpPartOptions {
  readonly port: number;
  readonly host?: string;
  readonly limits: ServerLimits;
  readonly firmware: FirmwareServing;
  readonly db: Kysely<Database>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly apiToken?: string;
  readonly maxEventStreams?: number;
  readonly maxEventStreamsPerAddress?: number;
  /** What the controller would do now; undefined while no valid manifests are loaded. */
  readonly plan: () => Promise<unknown | undefined>;
  readonly readiness: () => Readiness;
  readonly replicas?: ApiRoutesOptions;
}

/** The controller's HTTP port: firmware at /binaries/, the API, metrics, probes and the dashboard. */
export function httpPart(options: HttpPartOptions): ResourcePart<RunningHttpServer> {
  return new ResourcePart(
    'http server',
    () => {
      const app = createHttpApp({
        db: options.db,
        metrics: options.metrics,
        firmwareHandler: createFirmwareHttpHandler({
          ...firmwareHandlerOptions(options.firmware),
          protocol: 'http',
        }),
        ...(options.apiToken ? { apiToken: options.apiToken } : {}),
        logger: options.logger,
        plan: options.plan,
        downloads: options.firmware.stats,
        ...(options.maxEventStreams !== undefined ? { maxStreamSubscribers: options.maxEventStreams } : {}),
        ...(options.maxEventStreamsPerAddress !== undefined
          ? { maxStreamSubscribersPerAddress: options.maxEventStreamsPerAddress }
          : {}),
        readiness: options.readiness,
        ...(options.replicas ? { replicas: options.replicas } : {}),
      });
      return startHttpServer({
        port: options.port,
        ...(options.host ? { host: options.host } : {}),
        app,
        ...options.limits,
        log: options.logger,
      });
    },
    (server) => server.close(),
  );
}
