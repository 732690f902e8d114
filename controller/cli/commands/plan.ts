import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ApiRequestError, createHttpReadApi } from '../../api/client/index.js';
import { type CommitFields, commitText, revisionText } from '../../api/report/index.js';
import { formatProblem, loadDesiredState } from '../../manifests/index.js';
import {
  buildPlanReport,
  describeWait,
  loadAppliedTargets,
  type PlanRevision,
  type RolloutPlanReport,
} from '../../reconcile/index.js';
import { openStoreForCli } from '../open-store.js';
import { dbOption } from '../options.js';
import { count, displayPath } from '../output-text.js';
import { UserError } from '../user-error.js';

interface PlanOptions {
  manifests: string;
  firmwareDir: string;
  db?: string;
  server?: string;
  apiToken?: string;
  json?: boolean;
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description(
      'show what the controller would do now, rollout by rollout (exit 2 if a manifest is invalid)',
    )
    .option('--manifests <dir>', 'manifests directory', './rollouts')
    .option('--firmware-dir <dir>', 'firmware images directory', './firmware')
    .addOption(dbOption())
    .option('--server <url>', "a running controller's HTTP API (GET /api/v1/plan)")
    .option('--api-token <token>', 'bearer token for --server (default: OTACTL_API_TOKEN)')
    .option('--json', 'machine-readable output')
    .action(async (options: PlanOptions) => {
      if (options.server !== undefined && options.db !== undefined) {
        throw new UserError('give either --db or --server, not both', 2);
      }
      const { reports, manifests } = options.server
        ? await planFromServer(options.server, options.apiToken ?? process.env.OTACTL_API_TOKEN)
        : await planFromDatabase(options);
      process.stdout.write(
        options.json ? `${JSON.stringify(reports, null, 2)}\n` : formatPlan(reports, manifests),
      );
    });
}

/** The commit of the manifests a plan was made from, for its first line. */
interface PlannedFrom {
  readonly sha: string;
  readonly commit: CommitFields | null;
  readonly dirty: boolean;
}

interface Planned {
  readonly reports: RolloutPlanReport[];
  readonly manifests: PlannedFrom | undefined;
}

async function planFromDatabase(options: PlanOptions): Promise<Planned> {
  const store = await openStoreForCli(options.db, { existing: true });
  try {
    // What the controller applied last is the baseline it refuses a downgrade against.
    const loaded = await loadDesiredState(resolve(options.manifests), {
      firmwareDir: resolve(options.firmwareDir),
      previous: await loadAppliedTargets(store.db),
      displayPath,
    });
    if (!loaded.ok) {
      for (const problem of loaded.problems) process.stderr.write(`${formatProblem(problem, displayPath)}\n`);
      throw new UserError(
        `${count(loaded.problems.length, 'problem')} in ${options.manifests}; nothing planned`,
        2,
      );
    }
    return {
      reports: await buildPlanReport(store.db, loaded.state, Date.now()),
      manifests: loaded.state.git,
    };
  } finally {
    await store.close();
  }
}

/**
 * The plan of a running controller, headed by the revision it acts on: `lastAppliedRevision` of
 * its manifests status (GET /api/v1/manifests; none outside git or from an older controller).
 */
async function planFromServer(server: string, token: string | undefined): Promise<Planned> {
  const reports = await serverPlan(server, token);
  try {
    const status = await createHttpReadApi({ server, ...(token ? { token } : {}) }).manifests();
    return { reports, manifests: status?.lastAppliedRevision ?? undefined };
  } catch (error) {
    if (error instanceof ApiRequestError) throw new UserError(error.message);
    throw error;
  }
}

async function serverPlan(server: string, token: string | undefined): Promise<RolloutPlanReport[]> {
  const url = new URL('/api/v1/plan', server);
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(url, { headers });
  } catch (error) {
    throw new UserError(`cannot reach ${url.href}: ${(error as Error).message}`);
  }
  if (response.status === 401) {
    throw new UserError(`${url.origin} refused the request: pass --api-token or set OTACTL_API_TOKEN`);
  }
  if (response.status === 409)
    throw new UserError(`the controller has no valid manifests: ${await response.text()}`, 2);
  if (!response.ok) throw new UserError(`${url.href} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as RolloutPlanReport[];
}

/** ` with uncommitted changes`, when the files differ from the commit named. */
function uncommitted(dirty: boolean): string {
  return dirty ? ' with uncommitted changes' : '';
}

function planRevisionText(revision: PlanRevision): string {
  if (revision.commit === null) return 'not committed yet';
  return `${revisionText(revision.commit.sha, revision.commit)}${uncommitted(revision.dirty)}`;
}

/**
 * The text `otactl plan` prints; `manifests`, the commit the plan was made from, heads it (the
 * local work tree's, or the running controller's last applied revision; none outside git).
 */
export function formatPlan(reports: readonly RolloutPlanReport[], manifests?: PlannedFrom): string {
  const lines: string[] = [];
  if (manifests) {
    const commit = manifests.commit ? ` ${commitText(manifests.commit)}` : '';
    lines.push(
      `planned from manifests at ${manifests.sha.slice(0, 7)}${commit}${uncommitted(manifests.dirty)}`,
    );
  }
  if (reports.length === 0) return `${[...lines, 'No rollouts declared.'].join('\n')}\n`;
  for (const r of reports) {
    const s = r.status;
    const stepCount = s.steps.length;
    lines.push(
      `rollout ${r.name} -> ${r.targetVersion}: ${s.phase}, step ${s.currentStep + 1} of ${stepCount}`,
    );
    // absent also from a controller older than the field
    if (r.revision) lines.push(`  revision ${planRevisionText(r.revision)}`);
    lines.push(`  ${s.message}`);
    const c = s.counts;
    lines.push(
      `  devices: ${c.selected} selected, ${c.upToDate} up to date, ${c.inFlight} in flight, ${c.pending} pending, ${c.failed} failed`,
    );
    if (r.startsNext.count > 0) {
      const more = r.startsNext.count > r.startsNext.endpoints.length ? ', ...' : '';
      lines.push(`  starts next: ${r.startsNext.count} (${r.startsNext.endpoints.join(', ')}${more})`);
    } else {
      lines.push('  starts next: none');
    }
    for (const wait of r.waits) lines.push(`  waits: ${describeWait(wait)}`);
  }
  return `${lines.join('\n')}\n`;
}
