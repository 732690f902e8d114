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
import { createLogger, isLogLevel, LOG_LEVELS } from '../../log/index.js';
import {
  defaultReplicaId,
  type LeaseTiming,
  leaseTimingProblem,
  replicaIdProblem,
} from '../../replicas/index.js';
import { openStoreForCli } from '../open-store.js';
import {
  countOption,
  DEFAULT_HTTPS_PORT,
  dbOption,
  durationOption,
  FlagError,
  parseDurationFlag,
  portOption,
} from '../options.js';
import { UserError } from '../user-error.js';

/** How long signed download links last when `--signed-urls` comes without a ttl. */
const SIGNED_URL_TTL = '1h';

interface RunOptions {
  manifests: string;
  firmwareDir: string;
  db?: string;
  coapPort: number | 'off';
  coapsPort: number | 'off';
  httpPort: number;
  httpsPort?: number;
  tlsDir?: string;
  publicHost?: string;
  bind?: string;
  apiToken?: string;
  schemes: string;
  relativeUris?: boolean;
  /** Milliseconds; true when the flag came without a ttl. */
  signedUrls?: number | true;
  requireCommitted?: boolean;
  gitUrl?: string;
  gitBranch: string;
  gitInterval: number;
  logLevel: string;
  maxDownloadsPerClient: number;
  downloadQueuePerClient: number;
  maxHttpConnections: number;
  maxConnectionsPerAddress: number;
  maxEventStreams: number;
  maxEventStreamsPerAddress: number;
  replicaId?: string;
  leaseDuration: number;
  leaseRenewDeadline: number;
  leaseRetry: number;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the controller: LwM2M server, firmware servers, manifest watcher and reconciler')
    .option('--manifests <dir>', 'manifests directory (inside the clone with --git-url)', './rollouts')
    .option('--firmware-dir <dir>', 'firmware images directory', './firmware')
    .addOption(dbOption())
    .addOption(
      portOption('--coap-port <n>', "LwM2M over plain CoAP: UDP port, or 'off'", {
        default: 5683,
        allowOff: true,
      }),
    )
    .addOption(
      portOption(
        '--coaps-port <n>',
        "LwM2M over CoAP with DTLS (pre-shared keys from `otactl credentials`): UDP port, or 'off'",
        { default: 5684, allowOff: true },
      ),
    )
    .addOption(
      portOption('--http-port <n>', 'HTTP port: firmware, API, metrics, dashboard', { default: 8080 }),
    )
    .addOption(
      portOption(
        '--https-port <n>',
        `HTTPS firmware port (needs --tls-dir; default with --tls-dir: ${DEFAULT_HTTPS_PORT})`,
      ),
    )
    .option('--tls-dir <dir>', 'certificates made by `otactl pki init`; serves HTTPS firmware downloads')
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
    .addOption(
      durationOption(
        '--signed-urls [ttl]',
        `sign download links for one device and file, valid for ttl (${SIGNED_URL_TTL} when given without one); the keys live in the database (shared by replicas, kept across restarts) and rotate weekly`,
      ),
    )
    .option('--require-committed', 'refuse manifests with uncommitted changes')
    .option('--git-url <url>', 'keep a clone of this repository and watch it (fast-forward only)')
    .option('--git-branch <branch>', 'branch of --git-url', 'main')
    .addOption(durationOption('--git-interval <duration>', 'how often to fetch --git-url', { default: '1m' }))
    .addOption(
      countOption(
        '--max-downloads-per-client <n>',
        'concurrent downloads from one client address; more wait in its queue',
        { default: DEFAULT_MAX_DOWNLOADS_PER_CLIENT },
      ),
    )
    .addOption(
      countOption(
        '--download-queue-per-client <n>',
        'downloads from one client address that may wait for a slot (a fleet behind one NAT address); more get 429',
        { default: DEFAULT_DOWNLOAD_QUEUE_PER_CLIENT, min: 0 },
      ),
    )
    .addOption(
      countOption('--max-http-connections <n>', 'open connections on each HTTP(S) port; more get 503', {
        default: 10_000,
      }),
    )
    .addOption(
      countOption(
        '--max-connections-per-address <n>',
        'connections one address always gets on each HTTP(S) port; beyond that it borrows free ones while a tenth stay free for others',
        { default: 16 },
      ),
    )
    .addOption(
      countOption('--max-event-streams <n>', 'concurrent /api/v1/events/stream listeners; more get 503', {
        default: 32,
      }),
    )
    .addOption(
      countOption(
        '--max-event-streams-per-address <n>',
        'concurrent event stream listeners from one address; more get 429 (beyond its first, only while a quarter of the slots are free)',
        { default: 4 },
      ),
    )
    .option(
      '--replica-id <id>',
      'this process among the replicas on one Postgres; unique among live ones (default: host name and a random suffix)',
    )
    .addOption(
      durationOption('--lease-duration <duration>', 'planner lease duration (database clock)', {
        default: '15s',
      }),
    )
    .addOption(
      durationOption(
        '--lease-renew-deadline <duration>',
        'the leader stops planning when it could not renew the lease for this long',
        { default: '10s' },
      ),
    )
    .addOption(
      durationOption('--lease-retry <duration>', 'how often the lease is renewed or tried for', {
        default: '2s',
      }),
    )
    .addOption(new Option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`).default('info'))
    .action(async (options: RunOptions) => run(options));
}

async function run(options: RunOptions): Promise<void> {
  if (!isLogLevel(options.logLevel))
    throw new FlagError(
      '--log-level',
      `unknown level "${options.logLevel}" (one of ${LOG_LEVELS.join(', ')})`,
    );
  const schemes = options.schemes.split(',').map((s) => s.trim());
  for (const scheme of schemes) {
    if (!(SERVED_SCHEMES as readonly string[]).includes(scheme)) {
      throw new FlagError('--schemes', `unknown scheme "${scheme}" (use ${SERVED_SCHEMES.join(', ')})`);
    }
  }
  if (options.httpsPort !== undefined && !options.tlsDir)
    throw new FlagError('--https-port', 'needs --tls-dir');
  // Certificates given: HTTPS is served, on its conventional port unless --https-port says otherwise.
  const httpsPort = options.tlsDir ? (options.httpsPort ?? DEFAULT_HTTPS_PORT) : undefined;
  const { coapPort, coapsPort } = options;
  if (coapPort === 'off' && coapsPort === 'off') {
    throw new UserError(
      '--coap-port and --coaps-port are both off: devices could not reach the controller',
      2,
    );
  }
  const ttlMs =
    options.signedUrls === true ? parseDurationFlag('--signed-urls', SIGNED_URL_TTL) : options.signedUrls;
  const log = createLogger({ level: options.logLevel });
  const replica = replicaOptions(options);

  let manifestsDir = resolve(options.manifests);
  let git: RunConfig['git'];
  if (options.gitUrl) {
    const cloneDir = resolve('.otactl', 'git');
    git = { url: options.gitUrl, branch: options.gitBranch, dir: cloneDir, intervalMs: options.gitInterval };
    manifestsDir = join(cloneDir, options.manifests);
  }

  const { manager, controller } = composeRun({
    // Other replicas tell this one's writes from theirs by the connections' application_name.
    openStore: () => openStoreForCli(options.db, { applicationName: replica.id }),
    ...(git ? { git } : {}),
    log,
    controller: {
      manifestsDir,
      firmwareDir: resolve(options.firmwareDir),
      coapPort,
      ...(coapsPort === 'off' ? {} : { coapsPort }),
      httpPort: options.httpPort,
      ...(httpsPort !== undefined ? { httpsPort } : {}),
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
    throw asUserError(error, { coapPort, coapsPort, httpPort: options.httpPort, httpsPort });
  }
  const { httpPort } = controller.controller;
  log.info({ dashboard: `http://localhost:${httpPort}/` }, `dashboard at http://localhost:${httpPort}/`);
  await stopRequested;
  await manager.stop();
}

function replicaOptions(options: RunOptions): Partial<ReplicaConfig> & { id: string } {
  if (options.replicaId !== undefined) {
    const problem = replicaIdProblem(options.replicaId);
    if (problem) throw new FlagError('--replica-id', problem);
  }
  const lease: LeaseTiming = {
    durationMs: options.leaseDuration,
    renewDeadlineMs: options.leaseRenewDeadline,
    retryMs: options.leaseRetry,
  };
  const problem = leaseTimingProblem(lease);
  if (problem) throw new FlagError('--lease-*', problem);
  return { id: options.replicaId ?? defaultReplicaId(), lease };
}

interface ListenPorts {
  readonly coapPort: number | 'off';
  readonly coapsPort: number | 'off';
  readonly httpPort: number;
  readonly httpsPort: number | undefined;
}

/**
 * What the operator can fix (a port in use, a repository that cannot be cloned, a database that
 * cannot be opened) as a one-line UserError; anything else is the error itself, for its stack.
 */
function asUserError(error: unknown, ports: ListenPorts): unknown {
  let cause = error;
  while (cause instanceof Error) {
    if (cause instanceof UserError) return cause;
    if (cause instanceof GitCloneError) return new UserError(cause.message);
    const { code, syscall } = cause as NodeJS.ErrnoException;
    if ((code === 'EADDRINUSE' || code === 'EACCES') && (syscall === 'listen' || syscall === 'bind')) {
      return new UserError(portProblem(cause as NodeJS.ErrnoException & { port?: number }, ports));
    }
    if (!(cause.cause instanceof Error)) break;
    cause = cause.cause;
  }
  return cause;
}

/** `UDP port 5683 (--coap-port) is in use ...`: which port, its flag, and what to do. */
function portProblem(error: NodeJS.ErrnoException & { port?: number }, ports: ListenPorts): string {
  // Node binds UDP sockets (CoAP, DTLS) with `bind` and TCP servers (HTTP, HTTPS) with `listen`.
  const udp = error.syscall === 'bind';
  const candidates: [string, number | 'off' | undefined][] = udp
    ? [
        ['--coap-port', ports.coapPort],
        ['--coaps-port', ports.coapsPort],
      ]
    : [
        ['--http-port', ports.httpPort],
        ['--https-port', ports.httpsPort],
      ];
  const port = error.port;
  const flag = candidates.find(([, value]) => value === port)?.[0];
  const which = `${udp ? 'UDP' : 'TCP'} port ${port ?? '?'}${flag ? ` (${flag})` : ''}`;
  const choose = flag
    ? `choose another port with ${flag}`
    : 'choose other ports with --coap-port / --coaps-port / --http-port / --https-port';
  if (error.code === 'EACCES') {
    return `cannot listen on ${which}: permission denied (ports below 1024 need privileges); ${choose}`;
  }
  const find = udp ? `ss -lunp 'sport = :${port}'` : `ss -ltnp 'sport = :${port}'`;
  return `cannot listen on ${which}: another process is using it (find it with: ${find}); stop it or ${choose}`;
}

function defaultPublicHost(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return '127.0.0.1';
}
