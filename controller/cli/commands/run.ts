import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { composeRun, type RunConfig } from '../../app/compose-run.js';
import { GitCloneError } from '../../app/git-sync-part.js';
import { StartAbortedError } from '../../app/manager.js';
import type { ReplicaConfig } from '../../app/replicas-part.js';
import {
  DEFAULT_DOWNLOAD_QUEUE_PER_CLIENT,
  DEFAULT_MAX_DOWNLOADS_PER_CLIENT,
} from '../../firmware/http/index.js';
import { SERVED_SCHEMES, type ServedScheme } from '../../firmware/index.js';
import { createLogger, isLogLevel } from '../../log/index.js';
import { parseDuration } from '../../manifests/index.js';
import { type LeaseTiming, leaseTimingProblem, replicaIdProblem } from '../../replicas/index.js';
import { openStoreForCli } from '../open-store.js';
import { dbOption, parseBound, parseCount, parsePort } from '../options.js';
import { UserError } from '../user-error.js';

interface RunOptions {
  manifests: string;
  firmwareDir: string;
  db?: string;
  coapPort: string;
  coapsPort: string;
  httpPort: number;
  httpsPort?: number;
  tlsDir?: string;
  publicHost?: string;
  bind?: string;
  apiToken?: string;
  schemes: string;
  relativeUris?: boolean;
  signedUrls?: string | boolean;
  requireCommitted?: boolean;
  gitUrl?: string;
  gitBranch: string;
  gitInterval: string;
  logLevel: string;
  maxDownloadsPerClient: number;
  downloadQueuePerClient: number;
  maxHttpConnections: number;
  maxConnectionsPerAddress: number;
  maxEventStreams: number;
  maxEventStreamsPerAddress: number;
  replicaId?: string;
  leaseDuration: string;
  leaseRenewDeadline: string;
  leaseRetry: string;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the controller: LwM2M server, firmware servers, manifest watcher and reconciler')
    .option('--manifests <dir>', 'manifests directory (inside the clone with --git-url)', './rollouts')
    .option('--firmware-dir <dir>', 'firmware images directory', './firmware')
    .addOption(dbOption())
    .option('--coap-port <n>', "LwM2M over plain CoAP: UDP port, or 'off'", '5683')
    .option(
      '--coaps-port <n>',
      "LwM2M over CoAP with DTLS (pre-shared keys from `otactl credentials`): UDP port, or 'off'",
      '5684',
    )
    .option('--http-port <n>', 'HTTP port: firmware, API, metrics, dashboard', parsePort, 8080)
    .option('--https-port <n>', 'HTTPS firmware port (needs --tls-dir)', parsePort)
    .option('--tls-dir <dir>', 'certificates made by `otactl pki init`')
    .option(
      '--public-host <host>',
      'host name or address devices use to reach this controller (default: first non-loopback address)',
    )
    .option('--bind <address>', 'address to listen on (default: all)')
    .option('--api-token <token>', 'bearer token required by /api/* and /metrics (default: OTACTL_API_TOKEN)')
    .option('--schemes <list>', 'package URI scheme preference', 'https,http,coap')
    .option(
      '--relative-uris',
      'write /binaries/<file> instead of an absolute URI (firmware with the host built in)',
    )
    .option(
      '--signed-urls [ttl]',
      'sign download links for one device and file, valid for ttl (default 1h); the keys live in the database (shared by replicas, kept across restarts) and rotate weekly',
    )
    .option('--require-committed', 'refuse manifests with uncommitted changes')
    .option('--git-url <url>', 'keep a clone of this repository and watch it (fast-forward only)')
    .option('--git-branch <branch>', 'branch of --git-url', 'main')
    .option('--git-interval <duration>', 'how often to fetch --git-url', '1m')
    .option(
      '--max-downloads-per-client <n>',
      'concurrent downloads from one client address; more wait in its queue',
      parseCount,
      DEFAULT_MAX_DOWNLOADS_PER_CLIENT,
    )
    .option(
      '--download-queue-per-client <n>',
      'downloads from one client address that may wait for a slot (a fleet behind one NAT address); more get 429',
      parseBound,
      DEFAULT_DOWNLOAD_QUEUE_PER_CLIENT,
    )
    .option(
      '--max-http-connections <n>',
      'open connections on each HTTP(S) port; more get 503',
      parseCount,
      10_000,
    )
    .option(
      '--max-connections-per-address <n>',
      'connections one address always gets on each HTTP(S) port; beyond that it borrows free ones while a tenth stay free for others',
      parseCount,
      16,
    )
    .option(
      '--max-event-streams <n>',
      'concurrent /api/v1/events/stream listeners; more get 503',
      parseCount,
      32,
    )
    .option(
      '--max-event-streams-per-address <n>',
      'concurrent event stream listeners from one address; more get 429 (beyond its first, only while a quarter of the slots are free)',
      parseCount,
      4,
    )
    .option(
      '--replica-id <id>',
      'this process among the replicas on one Postgres; unique among live ones (default: host name and a random suffix)',
    )
    .option('--lease-duration <duration>', 'planner lease duration (database clock)', '15s')
    .option(
      '--lease-renew-deadline <duration>',
      'the leader stops planning when it could not renew the lease for this long',
      '10s',
    )
    .option('--lease-retry <duration>', 'how often the lease is renewed or tried for', '2s')
    .addOption(new Option('--log-level <level>', 'log level').default('info'))
    .action(async (options: RunOptions) => run(options));
}

async function run(options: RunOptions): Promise<void> {
  if (!isLogLevel(options.logLevel)) throw new UserError(`--log-level: unknown level "${options.logLevel}"`);
  const schemes = options.schemes.split(',').map((s) => s.trim());
  for (const scheme of schemes) {
    if (!(SERVED_SCHEMES as readonly string[]).includes(scheme)) {
      throw new UserError(`--schemes: unknown scheme "${scheme}" (use ${SERVED_SCHEMES.join(', ')})`);
    }
  }
  if (options.httpsPort !== undefined && !options.tlsDir) throw new UserError('--https-port needs --tls-dir');
  const coapPort = portOrOff('--coap-port', options.coapPort);
  const coapsPort = portOrOff('--coaps-port', options.coapsPort);
  if (coapPort === 'off' && coapsPort === 'off') {
    throw new UserError(
      '--coap-port and --coaps-port are both off: devices could not reach the controller',
      2,
    );
  }
  const ttl =
    typeof options.signedUrls === 'string' ? options.signedUrls : options.signedUrls ? '1h' : undefined;
  const ttlMs = ttl === undefined ? undefined : parseDuration(ttl);
  if (ttl !== undefined && ttlMs === undefined) throw new UserError(`--signed-urls: not a duration: ${ttl}`);
  const log = createLogger({ level: options.logLevel });
  const replica = replicaOptions(options);

  let manifestsDir = resolve(options.manifests);
  let git: RunConfig['git'];
  if (options.gitUrl) {
    const cloneDir = resolve('.otactl', 'git');
    const intervalMs = parseDuration(options.gitInterval);
    if (intervalMs === undefined)
      throw new UserError(`--git-interval: not a duration: ${options.gitInterval}`);
    git = { url: options.gitUrl, branch: options.gitBranch, dir: cloneDir, intervalMs };
    manifestsDir = join(cloneDir, options.manifests);
  }

  const { manager, controller } = composeRun({
    openStore: () => openStoreForCli(options.db),
    ...(git ? { git } : {}),
    log,
    controller: {
      manifestsDir,
      firmwareDir: resolve(options.firmwareDir),
      coapPort,
      ...(coapsPort === 'off' ? {} : { coapsPort }),
      httpPort: options.httpPort,
      ...(options.httpsPort !== undefined ? { httpsPort: options.httpsPort } : {}),
      ...(options.tlsDir ? { tlsDir: resolve(options.tlsDir) } : {}),
      ...(options.bind ? { coapHost: options.bind, httpHost: options.bind } : {}),
      publicHost: options.publicHost ?? defaultPublicHost(),
      schemePreference: schemes as ServedScheme[],
      ...(options.relativeUris ? { relativeUris: true } : {}),
      ...(ttlMs !== undefined ? { signedUrlTtlSeconds: Math.ceil(ttlMs / 1000) } : {}),
      ...(options.apiToken || process.env.OTACTL_API_TOKEN
        ? { apiToken: options.apiToken ?? process.env.OTACTL_API_TOKEN }
        : {}),
      ...(options.requireCommitted ? { requireCommitted: true } : {}),
      maxDownloadsPerClient: options.maxDownloadsPerClient,
      downloadQueuePerClient: options.downloadQueuePerClient,
      maxHttpConnections: options.maxHttpConnections,
      maxConnectionsPerAddress: options.maxConnectionsPerAddress,
      maxEventStreams: options.maxEventStreams,
      maxEventStreamsPerAddress: options.maxEventStreamsPerAddress,
      replica,
    },
  });

  // A signal during the start stops it too: what was started is stopped, ports and database released.
  let shutdown = (_signal: NodeJS.Signals) => {};
  const stopRequested = new Promise<void>((done) => {
    shutdown = (signal) => {
      log.info({ signal }, 'stopping');
      manager.stop().catch(() => {}); // awaited below, where a failure is reported
      done();
    };
  });
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  try {
    await manager.start();
  } catch (error) {
    if (error instanceof StartAbortedError) return await manager.stop();
    process.off('SIGINT', shutdown);
    process.off('SIGTERM', shutdown);
    throw asUserError(error);
  }
  const { httpPort } = controller.controller;
  log.info({ dashboard: `http://localhost:${httpPort}/` }, `dashboard at http://localhost:${httpPort}/`);
  await stopRequested;
  await manager.stop();
}

function replicaOptions(options: RunOptions): Partial<ReplicaConfig> {
  if (options.replicaId !== undefined) {
    const problem = replicaIdProblem(options.replicaId);
    if (problem) throw new UserError(`--replica-id: ${problem}`);
  }
  const duration = (flag: string, text: string): number => {
    const ms = parseDuration(text);
    if (ms === undefined) throw new UserError(`${flag}: not a duration: ${text}`);
    return ms;
  };
  const lease: LeaseTiming = {
    durationMs: duration('--lease-duration', options.leaseDuration),
    renewDeadlineMs: duration('--lease-renew-deadline', options.leaseRenewDeadline),
    retryMs: duration('--lease-retry', options.leaseRetry),
  };
  const problem = leaseTimingProblem(lease);
  if (problem) throw new UserError(`--lease-*: ${problem}`);
  return { ...(options.replicaId !== undefined ? { id: options.replicaId } : {}), lease };
}

/**
 * What the operator can fix (a port in use, a repository that cannot be cloned, a database that
 * cannot be opened) as a one-line UserError; anything else is the error itself, for its stack.
 */
function asUserError(error: unknown): unknown {
  let cause = error;
  while (cause instanceof Error) {
    if (cause instanceof UserError) return cause;
    if (cause instanceof GitCloneError) return new UserError(cause.message);
    const { code, syscall } = cause as NodeJS.ErrnoException;
    if ((code === 'EADDRINUSE' || code === 'EACCES') && (syscall === 'listen' || syscall === 'bind')) {
      return new UserError(
        `cannot listen: ${cause.message}; choose other ports with --coap-port / --coaps-port / --http-port`,
      );
    }
    if (!(cause.cause instanceof Error)) break;
    cause = cause.cause;
  }
  return cause;
}

function defaultPublicHost(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return '127.0.0.1';
}

/** A UDP port flag that may be turned off; a bad value is one line and exit 2. */
function portOrOff(flag: string, value: string): number | 'off' {
  if (value === 'off') return value;
  try {
    return parsePort(value);
  } catch {
    throw new UserError(`${flag}: not a port number or 'off': ${value}`, 2);
  }
}
