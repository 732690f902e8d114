import type { CoapTiming } from '../coap/timing.js';
import { type CredentialDirectory, DatabaseCredentialDirectory } from '../credentials/index.js';
import {
  createDownloadStats,
  createFirmwareImageCache,
  createSwappableCatalog,
  createUrlSigner,
  type Endpoint,
  type PackageUriPolicy,
  packageUriFor,
  type ServedScheme,
  type ServerLimits,
} from '../firmware/index.js';
import { createLogger, type Logger } from '../log/index.js';
import type { Lwm2mServer } from '../lwm2m/index.js';
import type { DesiredState } from '../manifests/index.js';
import { createMetrics } from '../metrics/index.js';
import { Notifier } from '../notifications/notifier.js';
import { buildPlanReport, type Reconciler, type ReconcilerOptions } from '../reconcile/index.js';
import {
  DEFAULT_HEARTBEAT_TIMING,
  type DeviceOwnership,
  defaultReplicaId,
  WorkListener,
  wakesReplica,
} from '../replicas/index.js';
import type { OpenDatabase } from '../store/index.js';
import { deviceOps } from './device-ops.js';
import { DeviceSyncPart } from './device-sync-part.js';
import { firmwareHttpsPart } from './firmware-https-part.js';
import type { FirmwareServing } from './firmware-serving.js';
import { httpPart } from './http-part.js';
import { Lwm2mPart } from './lwm2m-part.js';
import { ManagedController } from './managed-controller.js';
import { Manager } from './manager.js';
import { ManifestsPart } from './manifests-part.js';
import { type HealthReport, readiness } from './readiness.js';
import { ReconcilerPart } from './reconciler-part.js';
import { type ReplicaConfig, ReplicasPart } from './replicas-part.js';
import type { Runnable } from './runnable.js';
import { signingKeysPart } from './signing-keys-part.js';
import { TableStatisticsPart } from './table-statistics-part.js';
import { OTACTL_VERSION } from './version.js';

export interface ControllerConfig {
  readonly store: OpenDatabase;
  readonly manifestsDir: string;
  readonly firmwareDir: string;
  /** Plain CoAP's UDP port, or 'off' (then `coapsPort` must be set). */
  readonly coapPort: number | 'off';
  /** CoAP over DTLS with pre-shared keys; undefined: off. */
  readonly coapsPort?: number;
  /** Devices' pre-shared keys; default: the database's (`otactl credentials`). */
  readonly credentials?: CredentialDirectory;
  readonly coapHost?: string;
  readonly httpPort: number;
  readonly httpHost?: string;
  readonly httpsPort?: number;
  readonly tlsDir?: string;
  /** What devices use to reach this controller (host name or address). */
  readonly publicHost: string;
  /** Scheme order for Package URIs; default https, http, coap. */
  readonly schemePreference?: readonly ServedScheme[];
  /** Write `/binaries/<file>` instead of an absolute URI (firmware with the host built in). */
  readonly relativeUris?: boolean;
  /** Sign download links for the device and file, valid this long. */
  readonly signedUrlTtlSeconds?: number;
  readonly apiToken?: string;
  /**
   * Downloads at once from one client address. Devices behind one NAT share an address, so this
   * is a fairness bound, not a per-device one; more wait in the address's queue. Default 64.
   */
  readonly maxDownloadsPerClient?: number;
  /** Downloads of one client address that may wait for a slot; more get 429. Default 10,000. */
  readonly downloadQueuePerClient?: number;
  /** Open connections on each HTTP(S) port. Default 10,000. */
  readonly maxHttpConnections?: number;
  /**
   * Connections one address always gets on each HTTP(S) port; beyond that it borrows free ones
   * while a tenth of the ports' connections stay free for other addresses. Default 16.
   */
  readonly maxConnectionsPerAddress?: number;
  /** Concurrent event stream listeners, in total and from one address. Default 32 and 4. */
  readonly maxEventStreams?: number;
  readonly maxEventStreamsPerAddress?: number;
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** Retransmission timing of requests to devices (default FLEET_TIMING); tests shorten it. */
  readonly coapTiming?: Partial<CoapTiming>;
  readonly reconcile?: ReconcilerOptions;
  readonly manifestDebounceMs?: number;
  readonly requireCommitted?: boolean;
  /** Notification delivery: how often events are looked at (default 1 s), where secretEnv is read (default process.env). */
  readonly notifications?: { readonly pollMs?: number; readonly env?: NodeJS.ProcessEnv };
  /** This process among the replicas on its database; default: a generated id, default timings. */
  readonly replica?: Partial<ReplicaConfig>;
}

/** A controller: a Runnable made of parts; its ports and reconciler are there once started. */
export interface Controller extends Runnable {
  /** Undefined when plain CoAP is off. */
  readonly coapPort: number | undefined;
  /** Undefined when CoAP over DTLS is off. */
  readonly coapsPort: number | undefined;
  readonly httpPort: number;
  readonly httpsPort: number | undefined;
  readonly reconciler: Reconciler;
  readonly lwm2m: Lwm2mServer;
  desired(): DesiredState | undefined;
  /** Resolves after the manifests were loaded once (valid or not). */
  readonly manifestsLoaded: Promise<void>;
  /** Stops the parts in reverse; a part that fails to stop is logged and the others still stop. */
  stop(): Promise<void>;
}

/**
 * The composition root of `otactl run`: the controller's parts, in the order they start (each
 * once the one before it is ready) and stop in reverse. The link signing keys, the LwM2M server
 * (with firmware over CoAP), the device sync, the HTTP port (API and firmware), the HTTPS
 * firmware port, the manifests watcher, and last the reconciler. Not started: see startController.
 */
export function createController(config: ControllerConfig): Controller {
  const clock = config.clock ?? Date.now;
  const log = config.logger ?? createLogger();
  const { db } = config.store;
  const ttlSeconds = config.signedUrlTtlSeconds;

  const replicaConfig: ReplicaConfig = {
    id: config.replica?.id ?? defaultReplicaId(),
    version: config.replica?.version ?? OTACTL_VERSION,
    ...(config.replica?.lease ? { lease: config.replica.lease } : {}),
    ...(config.replica?.heartbeat ? { heartbeat: config.replica.heartbeat } : {}),
    ...(config.replica?.monotonic ? { monotonic: config.replica.monotonic } : {}),
    // A PGlite data directory is locked to one process: it is the only replica.
    exclusive: config.store.spec.kind !== 'postgres',
  };
  // Every registration records the replica it came to; the filters apply only among several.
  const ownership: DeviceOwnership = {
    replicaId: replicaConfig.id,
    goneAfterMs: (replicaConfig.heartbeat ?? DEFAULT_HEARTBEAT_TIMING).goneAfterMs,
    sole: replicaConfig.exclusive === true,
  };
  const signingKeys = ttlSeconds ? signingKeysPart({ db, ttlSeconds, clock, log }) : undefined;
  // Only files declared by valid Firmware manifests (and whose sha256 matched) are served.
  const catalog = createSwappableCatalog();
  const firmware: FirmwareServing = {
    catalog,
    images: createFirmwareImageCache(),
    stats: createDownloadStats(clock),
    ...(signingKeys ? { signingKeys } : {}),
    now: clock,
    ...(config.maxDownloadsPerClient !== undefined
      ? { maxDownloadsPerClient: config.maxDownloadsPerClient }
      : {}),
    ...(config.downloadQueuePerClient !== undefined
      ? { downloadQueuePerClient: config.downloadQueuePerClient }
      : {}),
  };
  const health = (): HealthReport => {
    const leading = replicas.elector.current();
    return {
      manifestsLoaded: manifests.desired() !== undefined,
      reconcileFailing: reconciler.failing(clock()),
      deviceWritesFailing: devices.writesFailing(clock()),
      deviceWritesQuarantined: devices.writesQuarantined(),
      replica: {
        id: replicas.id,
        leader: leading !== undefined,
        epoch: leading?.epoch ?? null,
        leaseFailing: replicas.elector.failing,
      },
    };
  };
  const metrics = createMetrics({ db, downloadStats: firmware.stats, health });

  const lwm2m = new Lwm2mPart({
    port: config.coapPort,
    ...(config.coapsPort === undefined ? {} : { coapsPort: config.coapsPort }),
    // `otactl credentials` writes them; looked up by identity through a bounded cache.
    credentials: config.credentials ?? new DatabaseCredentialDirectory(db),
    ...(config.coapHost ? { host: config.coapHost } : {}),
    db,
    ownership,
    clock,
    logger: log.child({ component: 'lwm2m' }),
    metrics,
    firmware,
    ...(config.coapTiming ? { timing: config.coapTiming } : {}),
  });
  const devices = new DeviceSyncPart({
    lwm2m,
    db,
    clock,
    logger: log.child({ component: 'devices' }),
    ownership,
  });
  const limits: ServerLimits = {
    ...(config.maxHttpConnections !== undefined ? { maxConnections: config.maxHttpConnections } : {}),
    ...(config.maxConnectionsPerAddress !== undefined
      ? { maxConnectionsPerClient: config.maxConnectionsPerAddress }
      : {}),
    onConnectionRefused: (reason) => metrics.httpConnectionsRefused.inc({ reason }),
  };
  const http = httpPart({
    port: config.httpPort,
    ...(config.httpHost ? { host: config.httpHost } : {}),
    limits,
    firmware,
    db,
    metrics,
    logger: log.child({ component: 'api' }),
    ...(config.apiToken ? { apiToken: config.apiToken } : {}),
    ...(config.maxEventStreams !== undefined ? { maxEventStreams: config.maxEventStreams } : {}),
    ...(config.maxEventStreamsPerAddress !== undefined
      ? { maxEventStreamsPerAddress: config.maxEventStreamsPerAddress }
      : {}),
    plan: async () => {
      const desired = manifests.desired();
      return desired ? buildPlanReport(db, desired, clock()) : undefined;
    },
    readiness: () => readiness(health()),
    replicas: {
      replicaId: replicaConfig.id,
      replicaGoneAfterMs: (replicaConfig.heartbeat ?? DEFAULT_HEARTBEAT_TIMING).goneAfterMs,
      notifications: () => manifests.desired()?.notifications,
    },
  });
  const https =
    config.tlsDir && config.httpsPort !== undefined
      ? firmwareHttpsPart({
          port: config.httpsPort,
          ...(config.httpHost ? { host: config.httpHost } : {}),
          tlsDir: config.tlsDir,
          limits,
          firmware,
          logger: log.child({ component: 'firmware-https' }),
        })
      : undefined;
  const replicas = new ReplicasPart({
    db,
    config: replicaConfig,
    addresses: () => ({
      ...(lwm2m.server.serves('none')
        ? { coap: `${config.publicHost}:${lwm2m.server.address('none').port}` }
        : {}),
      ...(lwm2m.server.serves('psk')
        ? { coaps: `${config.publicHost}:${lwm2m.server.address('psk').port}` }
        : {}),
      http: `${config.publicHost}:${http.current.port}`,
      ...(https ? { https: `${config.publicHost}:${https.current.port}` } : {}),
    }),
    logger: log.child({ component: 'replicas' }),
  });
  const manifests = new ManifestsPart({
    manifestsDir: config.manifestsDir,
    firmwareDir: config.firmwareDir,
    db,
    catalog,
    log,
    ...(config.manifestDebounceMs !== undefined ? { debounceMs: config.manifestDebounceMs } : {}),
    ...(config.requireCommitted ? { requireCommitted: true } : {}),
  });
  // Where devices download from: known once the servers listen (a port 0 is chosen then).
  const packageUris = (): PackageUriPolicy => {
    const at = (port: number): Endpoint => ({ host: config.publicHost, port });
    const server = lwm2m.server;
    const served: Partial<Record<ServedScheme, Endpoint>> = {
      http: at(http.current.port),
      ...(server.serves('none') ? { coap: at(server.address('none').port) } : {}),
      ...(server.serves('psk') ? { coaps: at(server.address('psk').port) } : {}),
      ...(https ? { https: at(https.current.port) } : {}),
    };
    return {
      served,
      ...(config.schemePreference ? { preference: config.schemePreference } : {}),
      ...(config.relativeUris ? { relative: true } : {}),
      ...(signingKeys
        ? {
            signerFor: createUrlSigner({
              key: signingKeys.current,
              ttlSeconds: ttlSeconds ?? 3600,
              now: clock,
            }),
          }
        : {}),
    };
  };
  const reconciler = new ReconcilerPart({
    db,
    clock,
    logger: log.child({ component: 'reconcile' }),
    metrics,
    ops: deviceOps(lwm2m, devices, metrics),
    desired: () => manifests.desired(),
    packageUri: (update) =>
      packageUriFor(packageUris(), {
        endpoint: update.endpoint,
        firmware: update.firmware,
        file: manifests.desired()?.firmware.get(update.firmware)?.file,
        protocolSupport: update.device.fwProtocolSupport,
        security: lwm2m.server.registration(update.endpoint)?.security ?? 'none',
      }),
    options: { ...config.reconcile, leadership: replicas, ownership },
  });
  // A new leader plans every rollout at once rather than at the next timed pass.
  replicas.elector.on('leading', () => reconciler.trigger());

  devices.onDeviceChanged((endpoint, why) => {
    if (
      why.kind === 'registered' ||
      why.kind === 'updated' ||
      why.kind === 'deregistered' ||
      why.kind === 'expired'
    ) {
      metrics.registrations.inc({ kind: why.kind });
    }
    reconciler.trigger({ endpoint });
  });
  manifests.onApplied(() => reconciler.trigger());

  // Other replicas' admissions and finished updates wake this one before its next timed pass.
  const spec = config.store.spec;
  const workListener =
    spec.kind === 'postgres' && config.replica?.listen !== false
      ? new WorkListener({
          url: spec.url,
          ...(spec.schema ? { schema: spec.schema } : {}),
          onSignal: (signal) => {
            const self = {
              id: replicaConfig.id,
              sender: config.store.applicationName ?? replicaConfig.id,
              leading: replicas.elector.current() !== undefined,
            };
            if (wakesReplica(signal, self)) reconciler.trigger();
          },
          onError: (err) => log.warn({ err }, 'listening for other replicas failed; timed passes go on'),
        })
      : undefined;

  const notifier = new Notifier({
    db,
    clock,
    desired: () => manifests.desired(),
    isSender: () => replicas.elector.current() !== undefined,
    log: log.child({ component: 'notifications' }),
    ...(config.notifications?.pollMs !== undefined ? { pollMs: config.notifications.pollMs } : {}),
    ...(config.notifications?.env ? { env: config.notifications.env } : {}),
  });

  const statistics =
    spec.kind === 'postgres'
      ? new TableStatisticsPart({ db, logger: log.child({ component: 'statistics' }) })
      : undefined;

  const parts = [
    signingKeys,
    lwm2m,
    devices,
    http,
    https,
    replicas,
    manifests,
    statistics,
    reconciler,
    workListener,
    notifier,
  ];
  return new ManagedController(
    new Manager(
      'controller',
      parts.filter((part) => part !== undefined),
    ),
    log,
    {
      ports: () => ({
        coapPort: lwm2m.server.serves('none') ? lwm2m.server.address('none').port : undefined,
        coapsPort: lwm2m.server.serves('psk') ? lwm2m.server.address('psk').port : undefined,
        httpPort: http.current.port,
        httpsPort: https?.current.port,
      }),
      reconciler: () => reconciler.reconciler,
      lwm2m: () => lwm2m.server,
      manifests,
      description: config.store.description,
    },
  );
}

/** Creates the controller and starts it; on a failure the parts started are stopped again. */
export async function startController(config: ControllerConfig): Promise<Controller> {
  const controller = createController(config);
  await controller.start();
  return controller;
}
