import { createHttpApp, startHttpServer } from '../api/index.js';
import { type DeviceSync, loadRegistrations, startDeviceSync } from '../devices/index.js';
import { writesFailing } from '../devices/write-queue.js';
import {
  buildFirmwareCatalog,
  choosePackageUri,
  createDownloadStats,
  createFirmwareCoapHandler,
  createFirmwareHttpHandler,
  createSwappableCatalog,
  createUrlSigner,
  type Endpoint,
  openSigningKeys,
  REGISTERED_SOURCE,
  type ServedScheme,
  type ServerLimits,
  SourceBudget,
  startFirmwareHttpsServer,
  UNREGISTERED_SOURCE,
} from '../firmware/index.js';
import { createLogger, type Logger } from '../log/index.js';
import { Lwm2mServer, type RegistrationChange } from '../lwm2m/index.js';
import {
  type DesiredState,
  formatProblem,
  type ManifestWatcher,
  type Problem,
  watchManifests,
} from '../manifests/index.js';
import { createMetrics } from '../metrics/index.js';
import {
  type ActiveUpdate,
  appendRolloutEvent,
  buildPlanReport,
  DEFAULT_TIMEOUTS,
  type ExecutorDeps,
  loadAppliedTargets,
  type PackageUriChoice,
  Reconciler,
  type ReconcilerOptions,
} from '../reconcile/index.js';
import type { OpenDatabase } from '../store/index.js';

export interface ControllerConfig {
  readonly store: OpenDatabase;
  readonly manifestsDir: string;
  readonly firmwareDir: string;
  readonly coapPort: number;
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
  readonly reconcile?: ReconcilerOptions;
  readonly manifestDebounceMs?: number;
  readonly requireCommitted?: boolean;
}

export interface Controller {
  readonly coapPort: number;
  readonly httpPort: number;
  readonly httpsPort: number | undefined;
  readonly reconciler: Reconciler;
  readonly lwm2m: Lwm2mServer;
  desired(): DesiredState | undefined;
  /** Resolves after the manifests were loaded once (valid or not). */
  readonly manifestsLoaded: Promise<void>;
  stop(): Promise<void>;
}

/** The composition root of `otactl run`: starts every part in order and stops them in reverse. */
export async function startController(config: ControllerConfig): Promise<Controller> {
  const clock = config.clock ?? Date.now;
  const log = config.logger ?? createLogger();
  const { db } = config.store;
  const stops: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        log.error({ err: error }, 'stopping a part failed');
      }
    }
  };

  try {
    // Firmware: only files declared by valid Firmware manifests (and whose sha256 matched) are served.
    const catalog = createSwappableCatalog();
    const downloadStats = createDownloadStats(clock);
    // Kept in the database: links outlive a restart and verify on every replica.
    const signingKey = config.signedUrlTtlSeconds
      ? await openSigningKeys({
          db,
          ttlSeconds: config.signedUrlTtlSeconds,
          now: clock,
          onError: (error) =>
            log.error({ err: error }, 'reading the link signing keys failed; keeping the ones read'),
        })
      : undefined;
    if (signingKey) stops.push(() => signingKey.close());
    // The parts reporting their health start below; until then there is nothing to report.
    let sync: DeviceSync | undefined;
    let reconciler: Reconciler | undefined;
    const metrics = createMetrics({
      db,
      downloadStats,
      health: () => ({
        deviceWritesQuarantined: sync?.stats().writes.quarantined ?? 0,
        deviceWritesFailing: sync !== undefined && writesFailing(sync.stats().writes, clock()),
        reconcileFailing: reconciler?.failing(clock()) ?? false,
      }),
    });

    // Registrations are committed before they are answered (bounded wait): see beforeAnswer.
    let persistRegistration: ((change: RegistrationChange) => Promise<void>) | undefined;
    const lwm2m = await Lwm2mServer.start({
      port: config.coapPort,
      beforeAnswer: (change) => persistRegistration?.(change) ?? Promise.resolve(),
      ...(config.coapHost ? { host: config.coapHost } : {}),
      clock,
      logger: log.child({ component: 'lwm2m' }),
    });
    stops.push(() => lwm2m.stop());
    lwm2m.addRoute(
      '/fw/',
      createFirmwareCoapHandler({
        catalog,
        stats: downloadStats,
        ...(signingKey ? { signingKey } : {}),
        now: clock,
        // Addresses with a registered device get a budget for a NAT full of devices; the others
        // one that keeps /fw/ from amplifying spoofed requests.
        budget: new SourceBudget({
          classify: (source) => (lwm2m.hasRegistrationFrom(source) ? REGISTERED_SOURCE : UNREGISTERED_SOURCE),
          now: clock,
        }),
      }),
    );
    // Devices that registered with an earlier run of the controller keep their registrations.
    lwm2m.restoreRegistrations(await loadRegistrations(db));
    // Someone else using a registration's id (refused with 4.04, as an unknown id is).
    lwm2m.on('refused', ({ operation }) => metrics.registrations.inc({ kind: `${operation}-refused` }));

    let desired: DesiredState | undefined;
    sync = startDeviceSync({
      server: lwm2m,
      db,
      clock,
      logger: log.child({ component: 'devices' }),
      onDeviceChanged: (endpoint, why) => {
        if (
          why.kind === 'registered' ||
          why.kind === 'updated' ||
          why.kind === 'deregistered' ||
          why.kind === 'expired'
        ) {
          metrics.registrations.inc({ kind: why.kind });
        }
        reconciler?.trigger({ endpoint });
      },
    });
    const devices = sync;
    stops.push(() => devices.stop());
    persistRegistration = (change) => devices.persistBeforeAnswer(change);

    const downloadLimits = {
      ...(config.maxDownloadsPerClient !== undefined
        ? { maxDownloadsPerClient: config.maxDownloadsPerClient }
        : {}),
      ...(config.downloadQueuePerClient !== undefined
        ? { downloadQueuePerClient: config.downloadQueuePerClient }
        : {}),
    };
    const firmwareHandler = createFirmwareHttpHandler({
      catalog,
      stats: downloadStats,
      ...(signingKey ? { signingKey } : {}),
      now: clock,
      protocol: 'http',
      ...downloadLimits,
    });
    const app = createHttpApp({
      db,
      metrics,
      firmwareHandler,
      ...(config.apiToken ? { apiToken: config.apiToken } : {}),
      logger: log.child({ component: 'api' }),
      plan: async () => (desired ? buildPlanReport(db, desired, clock()) : undefined),
      downloads: downloadStats,
      ...(config.maxEventStreams !== undefined ? { maxStreamSubscribers: config.maxEventStreams } : {}),
      ...(config.maxEventStreamsPerAddress !== undefined
        ? { maxStreamSubscribersPerAddress: config.maxEventStreamsPerAddress }
        : {}),
      readiness: () => {
        const reasons: string[] = [];
        if (desired === undefined) reasons.push('no valid manifests loaded yet');
        if (reconciler?.failing(clock())) reasons.push('reconcile passes have been failing for 30 s or more');
        if (writesFailing(devices.stats().writes, clock())) {
          reasons.push('device writes have been failing for 30 s or more');
        }
        return { ready: reasons.length === 0, reasons };
      },
    });
    const connectionLimits: ServerLimits = {
      ...(config.maxHttpConnections !== undefined ? { maxConnections: config.maxHttpConnections } : {}),
      ...(config.maxConnectionsPerAddress !== undefined
        ? { maxConnectionsPerClient: config.maxConnectionsPerAddress }
        : {}),
      onConnectionRefused: (reason) => metrics.httpConnectionsRefused.inc({ reason }),
    };
    const http = await startHttpServer({
      port: config.httpPort,
      ...(config.httpHost ? { host: config.httpHost } : {}),
      app,
      ...connectionLimits,
    });
    stops.push(() => http.close());
    let httpsPort: number | undefined;
    if (config.tlsDir && config.httpsPort !== undefined) {
      const https = await startFirmwareHttpsServer({
        port: config.httpsPort,
        ...(config.httpHost ? { host: config.httpHost } : {}),
        tlsDir: config.tlsDir,
        catalog,
        stats: downloadStats,
        ...(signingKey ? { signingKey } : {}),
        now: clock,
        ...downloadLimits,
        ...connectionLimits,
      });
      stops.push(() => https.close());
      httpsPort = https.port;
    }

    const served: Partial<Record<ServedScheme, Endpoint>> = {
      http: { host: config.publicHost, port: http.port },
      coap: { host: config.publicHost, port: lwm2m.address().port },
      ...(httpsPort !== undefined ? { https: { host: config.publicHost, port: httpsPort } } : {}),
    };
    const packageUri = (update: ActiveUpdate): PackageUriChoice => {
      const firmware = desired?.firmware.get(update.firmware);
      if (!firmware)
        return { ok: false, reason: `firmware ${update.firmware} is no longer declared`, permanent: false };
      const signer = signingKey
        ? createUrlSigner({ key: signingKey, ttlSeconds: config.signedUrlTtlSeconds ?? 3600, now: clock })(
            update.endpoint,
          )
        : undefined;
      const choice = choosePackageUri({
        fileName: firmware.file,
        ...(update.device.fwProtocolSupport ? { protocolSupport: update.device.fwProtocolSupport } : {}),
        served,
        ...(config.schemePreference ? { preference: config.schemePreference } : {}),
        ...(config.relativeUris ? { relative: true } : {}),
        ...(signer ? { signer } : {}),
      });
      return choice.ok
        ? { ok: true, uri: choice.uri }
        : { ok: false, reason: choice.message, permanent: true };
    };

    const counted = <T extends { readonly kind: string }>(method: string, result: T): T => {
      const outcome =
        result.kind === 'invalid' ? 'error' : (result.kind as 'ok' | 'error' | 'timeout' | 'unreachable');
      metrics.coapRequests.inc({ method, outcome });
      return result;
    };
    const deps: ExecutorDeps = {
      db,
      clock,
      logger: log.child({ component: 'reconcile' }),
      packageUri,
      timeoutsOf: (name) => desired?.rollouts.get(name)?.timeouts ?? DEFAULT_TIMEOUTS,
      retriesOf: (name) => desired?.rollouts.get(name)?.retries.max ?? 0,
      ops: {
        writePackageUri: async (endpoint, uri) =>
          counted('write', await lwm2m.device(endpoint).write('/5/0/1', uri)),
        executeUpdate: async (endpoint) => counted('execute', await lwm2m.device(endpoint).execute('/5/0/2')),
        cancelUpdate: async (endpoint) => counted('execute', await lwm2m.device(endpoint).execute('/5/0/10')),
        pollFirmwareState: async (endpoint) => {
          const read = await devices.readFirmwareState(endpoint);
          return read.kind === 'ok' ? { state: read.state, result: read.result } : undefined;
        },
        readFirmwareVersion: async (endpoint) => {
          await devices.readFirmwareVersion(endpoint);
        },
      },
      hooks: {
        onStarted: (rollout) => metrics.updatesStarted.inc({ rollout }),
        onFinished: (rollout, outcome) =>
          metrics.updatesFinished.inc({
            rollout,
            outcome: outcome.phase,
            reason: outcome.phase === 'succeeded' ? '' : outcome.reason,
          }),
      },
    };
    reconciler = new Reconciler(deps, () => desired, {
      ...config.reconcile,
      logger: log.child({ component: 'reconcile' }),
      onPass: (_result, seconds) => metrics.reconcilePassSeconds.observe(seconds),
      onFailure: (scope) => metrics.reconcileErrors.inc({ scope }),
    });
    stops.push(() => reconciler?.stop());

    let markLoaded = () => {};
    const manifestsLoaded = new Promise<void>((resolve) => {
      markLoaded = resolve;
    });
    const watcher: ManifestWatcher = watchManifests(
      config.manifestsDir,
      {
        firmwareDir: config.firmwareDir,
        // After a restart, a downgrade is still refused against what was applied before it.
        baseline: await loadAppliedTargets(db),
        ...(config.manifestDebounceMs !== undefined ? { debounceMs: config.manifestDebounceMs } : {}),
        ...(config.requireCommitted ? { requireCommitted: true } : {}),
      },
      (result) => {
        void (async () => {
          if (result.ok) {
            const state = result.state;
            const built = await buildFirmwareCatalog(
              config.firmwareDir,
              [...state.firmware.values()].map((f) => ({ file: f.file, sha256: f.sha256 })),
            );
            catalog.replace(built.catalog);
            for (const problem of built.problems) log.warn({ file: problem.file }, problem.message);
            for (const warning of result.warnings) log.warn({ file: warning.file }, formatProblem(warning));
            if (desired?.generation !== state.generation) {
              log.info(
                {
                  generation: state.generation,
                  rollouts: [...state.rollouts.keys()],
                  commit: state.git?.sha,
                },
                'applying manifests',
              );
            }
            desired = state;
          } else {
            const lines = result.problems.map((p) => formatProblem(p));
            log.error(
              { problems: lines },
              `manifests invalid (${lines.length} problems); keeping the last valid state`,
            );
            await appendRolloutEvent(db, null, null, {
              type: 'ManifestsInvalid',
              message: `${lines.length} problems; acting on the last valid manifests`,
              details: { problems: lines.slice(0, 50) },
            }).catch(() => {});
            // A refused change of one rollout (a downgrade) is told on that rollout too.
            for (const [rollout, refused] of problemsByRollout(result.problems)) {
              await appendRolloutEvent(db, rollout, null, {
                type: 'ManifestsInvalid',
                message: `change refused, acting on the last valid manifests: ${refused.map((p) => formatProblem(p)).join('; ')}`,
                details: { problems: refused.slice(0, 50).map((p) => formatProblem(p)) },
              }).catch(() => {});
            }
          }
          markLoaded();
          reconciler?.trigger();
        })().catch((error: unknown) => log.error({ err: error }, 'applying manifests failed'));
      },
    );
    stops.push(() => watcher.close());
    await watcher.ready;
    reconciler.start();

    log.info(
      { coapPort: lwm2m.address().port, httpPort: http.port, httpsPort, db: config.store.description },
      'otactl controller running',
    );
    return {
      coapPort: lwm2m.address().port,
      httpPort: http.port,
      httpsPort,
      reconciler,
      lwm2m,
      desired: () => desired,
      manifestsLoaded,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function problemsByRollout(problems: readonly Problem[]): Map<string, Problem[]> {
  const byRollout = new Map<string, Problem[]>();
  for (const problem of problems) {
    if (problem.rollout === undefined) continue;
    byRollout.set(problem.rollout, [...(byRollout.get(problem.rollout) ?? []), problem]);
  }
  return byRollout;
}
