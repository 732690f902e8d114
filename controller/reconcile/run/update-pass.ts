import type { DeviceOwnership } from '../../replicas/index.js';
import { isDataError } from '../../store/errors.js';
import type { UpdateWait } from '../plan/actions.js';
import type { ActiveUpdate } from '../plan/observation.js';
import { planUpdate, type UpdateIntent } from '../plan/plan-update.js';
import { type ActiveScope, ALL_ACTIVE, loadActiveUpdates } from '../read/load-active-updates.js';
import { commandKind } from '../write/device-commands.js';
import { type ExecutorDeps, runSteps, splitWork, type UpdateStep } from '../write/executor.js';
import { TransitionWriter, type UpdateTransitions } from '../write/transition-writer.js';
import { type CommandClaims, type HeldCommands, NONE_HELD } from './command-claims.js';
import { ReconcileFailures } from './reconcile-failures.js';
import type { UpdateWorkQueue, WorkSlot } from './update-work-queue.js';

export interface UpdatePassOptions {
  /** Read a followed resource directly when it has not changed for this long. */
  readonly pollQuietMs: number;
  /** Device requests in flight at once during a pass. */
  readonly concurrency: number;
  /**
   * Where the pass hands device requests; without one the pass waits for them (bench, tools).
   * The controller's loop passes its queue so a silent device does not slow every pass.
   */
  readonly work?: UpdateWorkQueue;
  /**
   * Where phase changes go. The controller's loop passes one long-lived writer, so the pass's
   * changes and those of device requests answered meanwhile share statements; default: one per pass.
   */
  readonly transitions?: UpdateTransitions;
  /** Which active updates to look at; default all. */
  readonly scope?: ActiveScope;
  /**
   * Where a failing rollout or update is reported (the others go on). The controller's loop passes
   * one long-lived reporter so a persistent failure is recorded once; default: one per pass.
   */
  readonly failures?: ReconcileFailures;
  /**
   * With several replicas: act only on updates of devices this replica owns, or that no live
   * replica owns (issue 20); another replica's device is reached only through it. Default: all.
   */
  readonly ownership?: DeviceOwnership;
  /**
   * The command outbox: device requests run only for the updates this replica claimed, in one
   * statement per pass, so no two replicas (an old owner still sending, a new one) send an
   * update's requests at once. Without it (bench, tools) nothing is claimed.
   */
  readonly commands?: CommandClaims;
}

export interface UpdatePassResult {
  /** Updates acted on. */
  readonly actions: number;
  /** Updates per wait, among the updates this pass looked at (all of them, or the changed ones). */
  readonly waits: Readonly<Record<UpdateWait, number>>;
  readonly scope: ActiveScope['kind'];
  /** Updates this pass moved without asking their device: worth another look at the next pass. */
  readonly followUp: readonly number[];
  /**
   * Every update this pass planned, with when to look at it again if nothing is reported
   * meanwhile: a time (epoch ms, `now` for at once), or undefined when only a report from its
   * device or a change of its rollout can change what to do.
   */
  readonly rechecks: ReadonlyMap<number, number | undefined>;
}

export function noWaits(): Record<UpdateWait, number> {
  return {
    'device-offline': 0,
    downloading: 0,
    'outside-window': 0,
    updating: 0,
    verifying: 0,
    'waiting-for-device': 0,
  };
}

/**
 * The active-update half of a pass: plans each update in scope against its rollout's intent and
 * acts. The steps that only change the database (mark downloaded, finish, rearm) run at once and
 * reach the transition writer together, so the pass records them in one statement; device requests
 * (and whatever follows them) are claimed in the outbox, in one statement, and those this replica
 * got go to the work queue.
 */
export async function reconcileUpdates(
  deps: ExecutorDeps,
  intents: ReadonlyMap<string, UpdateIntent>,
  now: number,
  options: UpdatePassOptions,
): Promise<UpdatePassResult> {
  const scope = options.scope ?? ALL_ACTIVE;
  // Taken before the read: an update whose request settles while the read runs is planned from
  // a row that may predate that request's move, and is skipped (the next pass reads it again).
  const mark = options.work?.mark();
  const active = await loadActiveUpdates(deps.db, scope, options.ownership);
  const transitions = options.transitions ?? new TransitionWriter(deps.db);
  const failures = options.failures ?? defaultFailures(deps);
  const waits = noWaits();
  const deviceWork: { readonly update: ActiveUpdate; readonly steps: readonly UpdateStep[] }[] = [];
  const databaseWork: Promise<void>[] = [];
  const followUp: number[] = [];
  const rechecks = new Map<number, number | undefined>();
  let acted = 0;
  for (const update of active) {
    // Left to the pass its request's settling asks for; looked at again at the next timed pass
    // too, since a request that was not this replica's to send settles without asking.
    if (
      options.work?.isBusy(update.id) ||
      (mark !== undefined && options.work?.settledSince(update.id, mark))
    ) {
      rechecks.set(update.id, now);
      continue;
    }
    let decision: ReturnType<typeof planUpdate>;
    try {
      decision = planUpdate(update, {
        intent: intents.get(update.rollout),
        now,
        pollQuietMs: options.pollQuietMs,
      });
    } catch (error) {
      rechecks.set(update.id, now);
      databaseWork.push(failures.report({ scope: 'update', update, error }));
      continue;
    }
    if (decision.wait) waits[decision.wait]++;
    if (decision.actions.length === 0) {
      rechecks.set(update.id, decision.recheckAt);
      continue;
    }
    // Acted on: its request's settling asks for another look, but a request another replica holds
    // (or a claim that failed) does not, so it is looked at again at the next timed pass.
    rechecks.set(update.id, now);
    acted++;
    const { database, device } = splitWork(decision.actions);
    if (database.length === 0) {
      deviceWork.push({ update, steps: device });
      continue;
    }
    databaseWork.push(
      runSteps(deps, transitions, database).then(
        (done) => {
          if (!done) return;
          if (device.length > 0) deviceWork.push({ update, steps: device });
          else followUp.push(update.id);
        },
        // A row the database refuses fails only its update; losing the database fails the pass.
        (error: unknown) => {
          if (!isDataError(error)) throw error;
          return failures.report({ scope: 'update', update, error });
        },
      ),
    );
  }
  await settleAll(databaseWork);
  // The claim is not waited for here: the tasks wait for it, so its round trip overlaps the next
  // pass (the work queue keeps their updates out of it meanwhile).
  const claiming = claimCommands(deps, options.commands, deviceWork, scope.kind === 'all');
  if (deviceWork.length === 0) await claiming;
  const tasks = deviceWork.map((w) => async (slot?: WorkSlot): Promise<boolean> => {
    const held = await claiming;
    // Another replica's request in flight (or the claim failed): nothing done, nothing to look at.
    if (held && !held.has(w.update.id)) return false;
    const session = held?.open(w.update.id, deps.ops, transitions, slot);
    try {
      await runSteps(
        session ? { ...deps, ops: session.ops } : deps,
        session?.transitions ?? transitions,
        w.steps,
      );
    } catch (error) {
      await failures.report({ scope: 'update', update: w.update, error });
    } finally {
      await session?.end();
    }
    return true;
  });
  if (options.work) {
    for (const [i, w] of deviceWork.entries()) options.work.submit(w.update.id, tasks[i]!);
  } else {
    await runWithConcurrency(tasks, options.concurrency);
  }
  return { actions: acted, waits, scope: scope.kind, followUp, rechecks };
}

/**
 * Claims the device requests of a pass in the outbox (one statement); undefined without an outbox.
 * A failed claim holds nothing: logged once, and the requests are planned again at a later pass.
 */
async function claimCommands(
  deps: ExecutorDeps,
  commands: CommandClaims | undefined,
  work: readonly { readonly update: ActiveUpdate; readonly steps: readonly UpdateStep[] }[],
  sweep: boolean,
): Promise<HeldCommands | undefined> {
  if (commands === undefined) return undefined;
  try {
    return await commands.claim(
      work.map((w) => ({ updateId: w.update.id, kind: commandKind(w.steps[0]!) })),
      sweep,
    );
  } catch (error) {
    deps.logger?.warn({ err: error }, 'claiming device requests failed; they are planned again later');
    return NONE_HELD;
  }
}

/** A reporter for one pass (no memory between passes): bench and tools. */
export function defaultFailures(deps: ExecutorDeps): ReconcileFailures {
  return new ReconcileFailures({
    db: deps.db,
    clock: deps.clock,
    log: (obj, msg) => deps.logger?.warn(obj, msg),
  });
}

/** Whether two passes plan updates against the same intents. */
export function sameIntents(
  a: ReadonlyMap<string, UpdateIntent>,
  b: ReadonlyMap<string, UpdateIntent>,
): boolean {
  if (a.size !== b.size) return false;
  for (const [name, x] of a) {
    const y = b.get(name);
    if (
      y === undefined ||
      x.targetVersion !== y.targetVersion ||
      x.withdrawReason !== y.withdrawReason ||
      x.executeAllowed !== y.executeAllowed ||
      JSON.stringify(x.verify) !== JSON.stringify(y.verify)
    ) {
      return false;
    }
  }
  return true;
}

/** Waits for every promise; then throws the first failure, if any. */
async function settleAll(promises: readonly Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

async function runWithConcurrency(tasks: readonly (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
