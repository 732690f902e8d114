import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { ApiRequestError, createDbReadApi, createHttpReadApi, type ReadApi } from '../../api/client/index.js';
import type { RolloutDetailView } from '../../api/read-model/views.js';
import { renderManifestsStatus, renderReplicas, renderStatus } from '../../api/report/index.js';
import type { ReplicasView } from '../../replicas/index.js';
import type { ManifestsStatusView } from '../../store/index.js';
import { openStoreForCli } from '../open-store.js';
import { dbOption } from '../options.js';
import { UserError } from '../user-error.js';

export interface ReadSourceFlags {
  readonly db?: string;
  readonly server?: string;
  readonly apiToken?: string;
}

export interface ReadSource {
  readonly api: ReadApi;
  close(): Promise<void>;
}

/** `--server URL` reads a running controller's API; otherwise the database (`--db`, DATABASE_URL, default). */
export async function openReadSource(flags: ReadSourceFlags): Promise<ReadSource> {
  if (flags.server !== undefined) {
    if (flags.db !== undefined) throw new UserError('give either --db or --server, not both');
    try {
      const api = createHttpReadApi({
        server: flags.server,
        token: flags.apiToken ?? process.env.OTACTL_API_TOKEN,
      });
      return { api, close: async () => {} };
    } catch (error) {
      if (error instanceof ApiRequestError) throw new UserError(error.message);
      throw error;
    }
  }
  const store = await openStoreForCli(flags.db, { existing: true });
  return { api: createDbReadApi(store.db), close: () => store.close() };
}

/** Runs a read; the API's transport failures become one-line user errors. */
export async function readOrFail<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof ApiRequestError) throw new UserError(error.message);
    throw error;
  }
}

interface StatusFlags extends ReadSourceFlags {
  readonly watch?: boolean;
  readonly json?: boolean;
}

export const WATCH_INTERVAL_MS = 2_000;

/** A rollout shown needs someone to act (its Stalled condition is True: see RolloutView.needsAttention). */
export const NEEDS_ATTENTION_EXIT_CODE = 3;

/** What one look shows: a rollout, or every rollout with the replicas (when any ran on the database). */
type Snapshot =
  | { readonly kind: 'one'; readonly rollout: RolloutDetailView }
  | {
      readonly kind: 'all';
      readonly manifests: ManifestsStatusView | undefined;
      readonly rollouts: RolloutDetailView[];
      readonly replicas: ReplicasView | undefined;
    };

async function snapshot(api: ReadApi, name: string | undefined): Promise<Snapshot> {
  if (name === undefined) {
    const [manifests, rollouts, replicas] = await Promise.all([
      api.manifests(),
      api.rollouts(),
      api.replicas(),
    ]);
    const shown =
      replicas && (replicas.replicas.length > 0 || replicas.lease !== null) ? replicas : undefined;
    return { kind: 'all', manifests, rollouts, replicas: shown };
  }
  const rollout = await api.rollout(name);
  if (!rollout) throw new UserError(`rollout "${name}" not found`);
  return { kind: 'one', rollout };
}

/**
 * Someone must act: a rollout shown is Stalled, or (every rollout shown) the controller refused the
 * manifests it was given or cannot sync them from git, so a commit is not being acted on.
 */
function needsAttention(view: Snapshot): boolean {
  if (view.kind === 'one') return view.rollout.needsAttention;
  const manifests = view.manifests;
  const refused = manifests !== undefined && (!manifests.ready || manifests.gitSync?.ok === false);
  return refused || view.rollouts.some((r) => r.needsAttention);
}

function format(view: Snapshot, json: boolean, pretty: boolean): string {
  if (json) {
    const body =
      view.kind === 'one'
        ? view.rollout
        : {
            manifests: view.manifests ?? null,
            rollouts: view.rollouts,
            ...(view.replicas ? { replicas: view.replicas } : {}),
          };
    return pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body);
  }
  if (view.kind === 'one') return renderStatus([view.rollout]);
  const text = `${renderManifestsStatus(view.manifests)}\n\n${renderStatus(view.rollouts)}`;
  return view.replicas ? `${text}\n\n${renderReplicas(view.replicas)}` : text;
}

async function runStatus(name: string | undefined, flags: StatusFlags): Promise<void> {
  const source = await openReadSource(flags);
  try {
    if (!flags.watch) {
      const view = await readOrFail(() => snapshot(source.api, name));
      process.stdout.write(`${format(view, flags.json === true, true)}\n`);
      if (needsAttention(view)) process.exitCode = NEEDS_ATTENTION_EXIT_CODE;
      return;
    }
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // The reader went away (`status --watch | head`): stop watching, quietly.
    const onClosed = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') stop.abort();
    };
    process.stdout.on('error', onClosed);
    const clear = process.stdout.isTTY === true && flags.json !== true;
    try {
      while (!stop.signal.aborted) {
        let text: string;
        try {
          text = format(await readOrFail(() => snapshot(source.api, name)), flags.json === true, false);
        } catch (error) {
          // While watching, a controller restarting or a rollout not yet applied is shown, not fatal.
          if (!(error instanceof UserError)) throw error;
          text = `otactl: ${error.message}`;
        }
        // --json --watch prints one JSON document per line (NDJSON), for piping.
        const stamp = flags.json
          ? ''
          : `${new Date().toISOString()}  (every ${WATCH_INTERVAL_MS / 1000}s, Ctrl-C to stop)\n\n`;
        process.stdout.write(
          `${clear ? '\x1b[2J\x1b[H' : ''}${stamp}${text}\n${clear || flags.json ? '' : '\n'}`,
        );
        if (stop.signal.aborted) break;
        await delay(WATCH_INTERVAL_MS, undefined, { signal: stop.signal }).catch(() => {});
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stdout.off('error', onClosed);
    }
  } finally {
    await source.close();
  }
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'rollout phase, counts, progress and recent failures (exit 3 when a rollout shown needs attention: aborted, degraded, no devices, conflict, invalid, or paused by its failure threshold; without ROLLOUT also when the manifests are NOT READY or git sync fails)',
    )
    .argument('[rollout]', 'one rollout')
    .addOption(dbOption())
    .option('--server <url>', "a running controller's HTTP API")
    .option('--api-token <token>', 'bearer token for --server (default: OTACTL_API_TOKEN)')
    .option('--watch', 'refresh until interrupted')
    .option('--json', 'machine-readable output')
    .action((rollout: string | undefined, flags: StatusFlags) => runStatus(rollout, flags));
}
