import type { Kysely } from 'kysely';
import type { DesiredState, GitCommit } from '../../manifests/index.js';
import type { Database } from '../../store/index.js';
import type { RolloutWait } from '../plan/plan-rollout.js';
import type { RolloutStatus } from '../plan/rollout-status.js';
import { decideRollout, rolloutsInOrder } from '../read/decide-rollout.js';
import { loadStoredStatuses } from '../write/rollout-rows.js';

/** The revision of a Rollout's manifest file, when it is in a git work tree. */
export interface PlanRevision {
  /** The file's last commit; null when git does not track the file yet. */
  readonly commit: GitCommit | null;
  /** The file differs from that commit. */
  readonly dirty: boolean;
}

export interface RolloutPlanReport {
  readonly name: string;
  readonly targetVersion: string;
  /** What the plan is of: the Rollout's revision; null outside git. */
  readonly revision: PlanRevision | null;
  readonly status: RolloutStatus;
  /** Devices that would start now, in canary order (at most `maxNames` named). */
  readonly startsNext: { readonly count: number; readonly endpoints: readonly string[] };
  readonly waits: readonly RolloutWait[];
}

/**
 * What the controller would do now, computed exactly as a pass would but without acting:
 * the same per-rollout decision (read/decide-rollout.ts), read-only.
 */
export async function buildPlanReport(
  db: Kysely<Database>,
  desired: DesiredState,
  now: number,
  maxNames = 20,
): Promise<RolloutPlanReport[]> {
  const stored = await loadStoredStatuses(db);
  const reports: RolloutPlanReport[] = [];
  for (const inOrder of rolloutsInOrder(desired)) {
    const { rollout } = inOrder;
    const { plan, startsNow } = await decideRollout(db, inOrder, stored.get(rollout.name), now);
    const candidates = await startsNow();
    reports.push({
      name: rollout.name,
      targetVersion: rollout.firmware.version,
      revision: rollout.source.revision
        ? { commit: rollout.source.revision.commit ?? null, dirty: rollout.source.revision.dirty }
        : null,
      status: plan.status,
      startsNext: {
        count: candidates.length,
        endpoints: candidates.slice(0, maxNames).map((c) => c.endpoint),
      },
      waits: plan.waits,
    });
  }
  return reports;
}

/** One line per wait reason, as `otactl plan` prints them. */
export function describeWait(wait: RolloutWait): string {
  switch (wait.kind) {
    case 'suspended':
      return 'suspended (spec.suspend: true): no new updates start';
    case 'aborted':
      return `aborted: ${wait.reason}`;
    case 'failure-threshold':
      return `paused by the ${wait.reason}; change the Rollout in git to resume`;
    case 'pause':
      return `pause after step ${wait.step + 1} until ${new Date(wait.until).toISOString()}`;
    case 'gate':
      return `step ${wait.step + 2} waits for its gate: ${wait.reason}`;
    case 'approval':
      return `step ${wait.step + 2} waits for approval: set spec.strategy.approved to ${wait.approvedNeeded} in a commit`;
    case 'step-in-progress':
      return `step ${wait.step + 1} has ${wait.unfinished} devices to finish before the next step`;
    case 'unread':
      return `${wait.devices} registered devices not read yet (model and version unknown) hold the step until ${new Date(wait.until).toISOString()} at the latest`;
    case 'state-unread':
      return `${wait.devices} devices have not reported their firmware State (5/0/3) yet: none starts before it does; they are waited for until ${new Date(wait.until).toISOString()} at the latest, then skipped`;
    case 'in-flight-limit':
      return `in-flight limit reached (maxInFlight ${wait.maxInFlight})`;
    case 'rate-limit':
      return `start rate limit reached (maxPerMinute ${wait.maxPerMinute})`;
    case 'window':
      return `downloaded devices wait for the maintenance window${wait.opensAt ? ` (opens ${new Date(wait.opensAt).toISOString()})` : ''}`;
    case 'conflict':
      return `${wait.devices} devices also selected by a rollout of equal priority; neither touches them${wait.examples.length ? ` (e.g. ${wait.examples.join(', ')})` : ''}`;
    case 'downgrade-refused':
      return `${wait.devices} devices run a newer (or not comparable) version; set allowDowngrade: true to roll them back`;
  }
}
