import { EventEmitter } from 'node:events';
import type { DesiredState } from '../../manifests/index.js';
import { windowState } from '../plan/maintenance-window.js';
import type { UpdateIntent } from '../plan/plan-update.js';
import { type ActiveScope, ALL_ACTIVE } from '../read/load-active-updates.js';
import type { ExecutorDeps } from '../write/executor.js';
import { TransitionWriter } from '../write/transition-writer.js';
import { CommandClaims, type CommandTiming } from './command-claims.js';
import { GateAsker } from './gate-asker.js';
import { type FailureScope, ReconcileFailures } from './reconcile-failures.js';
import { type PassOptions, type PassResult, reconcilePass } from './reconcile-pass.js';
import { reconcileUpdates, type UpdatePassResult } from './update-pass.js';
import { UpdateWorkQueue } from './update-work-queue.js';

/** What changed, so a pass looks only at the active updates concerned (see `Reconciler.trigger`). */
export type Change = { readonly endpoint: string } | { readonly updateId: number };

export interface ReconcilerOptions
  extends Partial<
    Omit<PassOptions, 'transitions' | 'scope' | 'plannedWith' | 'work' | 'failures' | 'gates' | 'commands'>
  > {
  /** How long a device command's claim lasts and when its request must have begun (tests). */
  readonly commandTiming?: CommandTiming;
  /**
   * Passes run at least this often (timeouts, pauses and backoffs are noticed by it); these timed
   * passes plan every rollout and look at the active updates whose recheck time has come.
   */
  readonly intervalMs?: number;
  /**
   * A timed pass looks at every active update at least this often (default: 10 intervals), a
   * safety net under the recheck times: an update is otherwise looked at when its device reports,
   * when its request settles, or when the planner said its decision may change.
   */
  readonly sweepMs?: number;
  /** Triggers within this span collapse into one pass. */
  readonly coalesceMs?: number;
  readonly logger?: { error(obj: object, msg: string): void };
  readonly onPass?: (result: PassResult, seconds: number) => void;
  /** Called for every failure: of a rollout, of an update (the others go on), or of a whole pass. */
  readonly onFailure?: (scope: FailureScope) => void;
}

/** Passes failing this long (none succeeding) make the controller not ready. */
export const RECONCILE_FAILING_AFTER_MS = 30_000;

interface ReconcilerEvents {
  pass: [PassResult];
  error: [unknown];
}

/** The rollouts as the last pass that planned them saw them. */
interface RolloutsPlanned {
  readonly desired: DesiredState;
  readonly intents: ReadonlyMap<string, UpdateIntent>;
  /** Maintenance windows open (or always) at the time, by rollout. */
  readonly executeAllowed: ReadonlyMap<string, boolean>;
  /** performance.now() when that pass began, and how long it took. */
  readonly at: number;
  readonly tookMs: number;
}

/**
 * Passes that plan the rollouts (reading every group member) may take this share of the loop's
 * time at most while device events keep it busy; passes in between act on active updates only.
 */
const ROLLOUT_PASS_SHARE = 0.2;

/**
 * The driver loop: one pass at a time; any number of triggers (manifest change, device event,
 * timer) during a pass collapse into one more pass after it. A failing pass is retried with
 * backoff; it never stops the loop.
 *
 * A pass triggered by a change looks only at the active updates concerned: those whose device
 * reported something, whose device request settled, that the previous pass moved or started.
 * Nothing else changed for the others since they were last planned, but the clock: the planner
 * says when each decision may change with time (a deadline, a quiet period, a bake's end) and the
 * timed passes look at the updates whose time has come. The first pass, a pass after a failure,
 * a timed pass once per `sweepMs` and any pass whose rollout intents differ from those the others
 * were planned with look at every active update. Planning the rollouts is bounded to a share of
 * the loop's time (ROLLOUT_PASS_SHARE), timed passes aside; a pass in between acts on its updates
 * with the intents of the last planning, unless the manifests changed or a maintenance window
 * opened or closed since.
 *
 * The recheck times are a schedule, not a record: lost with the process, and rebuilt by the first
 * pass of the next, which looks at everything.
 */
export class Reconciler extends EventEmitter<ReconcilerEvents> {
  readonly #deps: ExecutorDeps;
  readonly #desired: () => DesiredState | undefined;
  readonly #options: Required<Pick<ReconcilerOptions, 'intervalMs' | 'coalesceMs' | 'sweepMs'>> &
    Omit<PassOptions, 'scope' | 'plannedWith'>;
  readonly #gates: GateAsker;
  readonly #logger: ReconcilerOptions['logger'];
  readonly #onPass: ReconcilerOptions['onPass'];
  #timer: NodeJS.Timeout | undefined;
  #pending: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #dirty = false;
  /** The next pass plans every rollout and looks at every active update. */
  #all = true;
  #endpoints = new Set<string>();
  #updates = new Set<number>();
  /** The next pass plans the rollouts (a timed pass), whatever its scope. */
  #planRollouts = false;
  /** Active update id -> when to look at it again (deps.clock()), as its last planning said. */
  readonly #rechecks = new Map<number, number>();
  /** deps.clock() at the start of the last pass that looked at every active update. */
  #sweptAt = Number.NEGATIVE_INFINITY;
  /** deps.clock() at the last timed pass. */
  #tickedAt = Number.NEGATIVE_INFINITY;
  /** The next pass also looks at the updates created since (epoch ms). */
  #createdSince: number | undefined;
  #planned: RolloutsPlanned | undefined;
  #stopped = true;
  #failures = 0;
  #healthy = true;
  /** deps.clock() at the first failed pass since the last one that succeeded. */
  #failingSince: number | undefined;
  readonly #onFailure: ReconcilerOptions['onFailure'];

  constructor(deps: ExecutorDeps, desired: () => DesiredState | undefined, options: ReconcilerOptions = {}) {
    super();
    this.#deps = deps;
    this.#gates = new GateAsker({
      db: deps.db,
      clock: deps.clock,
      onAnswer: () => this.trigger(),
      log: (obj, msg) => this.#logger?.error(obj, msg),
    });
    this.#desired = desired;
    const intervalMs = options.intervalMs ?? 2_000;
    this.#options = {
      intervalMs,
      sweepMs: options.sweepMs ?? 10 * intervalMs,
      coalesceMs: options.coalesceMs ?? 20,
      pollQuietMs: options.pollQuietMs ?? 30_000,
      concurrency: options.concurrency ?? 256,
      ...(options.leadership ? { leadership: options.leadership } : {}),
      ...(options.ownership ? { ownership: options.ownership } : {}),
      // Without replicas (tests, tools) the one process claims under a name of its own.
      commands: new CommandClaims({
        db: deps.db,
        ownership: options.ownership ?? { replicaId: 'local', goneAfterMs: 0, sole: true },
        ...(options.commandTiming ? { timing: options.commandTiming } : {}),
      }),
      transitions: new TransitionWriter(deps.db),
      failures: new ReconcileFailures({
        db: deps.db,
        clock: deps.clock,
        log: (obj, msg) => this.#logger?.error(obj, msg),
        onFailure: (scope) => this.#onFailure?.(scope),
      }),
      gates: this.#gates,
      work: new UpdateWorkQueue(
        options.concurrency ?? 256,
        // A settled device request changed the database: look at its update again.
        (updateId) => this.trigger({ updateId }),
        (error) =>
          this.#logger?.error(
            { err: error },
            'a device request of the reconciler failed; retried on a later pass',
          ),
      ),
    };
    this.#logger = options.logger;
    this.#onPass = options.onPass;
    this.#onFailure = options.onFailure;
  }

  /** Whether the last pass succeeded. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** Whether passes have been failing, none succeeding, for RECONCILE_FAILING_AFTER_MS (readiness). */
  failing(now = this.#deps.clock()): boolean {
    return this.#failingSince !== undefined && now - this.#failingSince >= RECONCILE_FAILING_AFTER_MS;
  }

  start(): void {
    this.#stopped = false;
    // The first pass looks at everything (nothing planned yet): it is the first sweep.
    this.#sweptAt = this.#deps.clock();
    this.#tickedAt = this.#sweptAt;
    this.#timer = setInterval(() => this.#tick(), this.#options.intervalMs);
    this.#timer.unref();
    this.trigger();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#pending);
    await this.#running;
    await Promise.all([this.#options.work?.drain(), this.#gates.stop()]);
  }

  /**
   * Asks for a pass soon; cheap and safe to call for every device event. With a change (a device's
   * endpoint, an update's id) the pass need only look at the active updates concerned; without
   * one it plans everything again.
   */
  trigger(change?: Change): void {
    if (this.#stopped) return;
    if (change === undefined) this.#all = true;
    else if ('endpoint' in change) this.#endpoints.add(change.endpoint);
    else this.#updates.add(change.updateId);
    this.#dirty = true;
    this.#schedule();
  }

  /**
   * The timed pass: plans the rollouts, and looks at every active update once per sweep, else at
   * those whose recheck time has come.
   */
  #tick(): void {
    if (this.#stopped) return;
    const now = this.#deps.clock();
    const since = this.#tickedAt - this.#options.intervalMs;
    this.#tickedAt = now;
    if (now - this.#sweptAt >= this.#options.sweepMs) {
      this.trigger();
      return;
    }
    // Updates another replica's planner admitted for this replica's devices: without its NOTIFY
    // (a pooler drops them) this is how they are found. An interval of overlap covers a row
    // committed late and the clocks of two hosts that differ by less than that.
    this.#createdSince = Math.min(this.#createdSince ?? since, since);
    for (const [updateId, at] of this.#rechecks) {
      if (at > now) continue;
      // The pass that looks at it says when to look again (or nothing, if it is gone).
      this.#rechecks.delete(updateId);
      this.#updates.add(updateId);
    }
    this.#planRollouts = true;
    this.#dirty = true;
    this.#schedule();
  }

  /** Starts the loop after the coalescing delay (or the backoff), unless it runs or is due. */
  #schedule(): void {
    if (this.#stopped || this.#running || this.#pending) return;
    const delay = this.#failures > 0 ? Math.min(30_000, 250 * 2 ** this.#failures) : this.#options.coalesceMs;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      this.#running = this.#pass().finally(() => {
        this.#running = undefined;
        // Changes that came in during the pass wait coalesceMs too: under a stream of device
        // events, passes back to back would each act on a few updates and pay a pass's fixed
        // statements for them (a 1,000-device rollout ran twice as many passes).
        if (this.#dirty) this.#schedule();
      });
    }, delay);
  }

  async #pass(): Promise<void> {
    if (!this.#dirty || this.#stopped) return;
    this.#dirty = false;
    const desired = this.#desired();
    const all = this.#all || this.#planned === undefined;
    const planRollouts = this.#planRollouts;
    this.#planRollouts = false;
    const scope = this.#takeScope(all);
    const began = performance.now();
    try {
      const now = this.#deps.clock();
      const planned = this.#planned;
      const result =
        all || planRollouts || planned === undefined || this.#rolloutsDue(planned, desired, now, began)
          ? await this.#fullPass(desired, scope, now, began)
          : await this.#updatePass(planned, scope, now);
      this.#noteRechecks(result, now);
      if (result.followUp.length > 0) {
        for (const id of result.followUp) this.#updates.add(id);
        this.#dirty = true;
      }
      this.#failures = 0;
      this.#healthy = true;
      this.#failingSince = undefined;
      this.#onPass?.(result, (performance.now() - began) / 1000);
      this.emit('pass', result);
    } catch (error) {
      this.#failures++;
      this.#healthy = false;
      this.#failingSince ??= this.#deps.clock();
      this.#onFailure?.('pass');
      this.#dirty = true;
      // What this pass was to look at is not known to be done: the next one looks at everything.
      this.#all = true;
      this.#logger?.error(
        { err: error, failures: this.#failures },
        'reconcile pass failed; retrying with backoff',
      );
      if (this.listenerCount('error') > 0) this.emit('error', error);
    }
  }

  /** Plans the rollouts (and starts updates), then acts on the active updates in scope. */
  async #fullPass(
    desired: DesiredState | undefined,
    scope: ActiveScope,
    now: number,
    began: number,
  ): Promise<PassResult> {
    const result = await reconcilePass(this.#deps, desired, {
      ...this.#options,
      scope,
      ...(this.#planned ? { plannedWith: this.#planned.intents } : {}),
    });
    this.#planned = desired
      ? {
          desired,
          intents: result.intents,
          executeAllowed: executeAllowedNow(desired, now),
          at: began,
          tookMs: performance.now() - began,
        }
      : undefined;
    return result;
  }

  /** Acts on the active updates in scope with the intents of the last planning. */
  async #updatePass(planned: RolloutsPlanned, scope: ActiveScope, now: number): Promise<PassResult> {
    const updates = await reconcileUpdates(this.#deps, planned.intents, now, { ...this.#options, scope });
    return { started: 0, plans: new Map(), intents: planned.intents, ...updates };
  }

  /** Whether this pass must plan the rollouts again before acting on updates. */
  #rolloutsDue(
    planned: RolloutsPlanned,
    desired: DesiredState | undefined,
    now: number,
    began: number,
  ): boolean {
    if (desired !== planned.desired) return true;
    if (began - planned.at >= Math.max(this.#options.coalesceMs, planned.tookMs / ROLLOUT_PASS_SHARE)) {
      return true;
    }
    const allowed = executeAllowedNow(planned.desired, now);
    for (const [name, open] of allowed) if (planned.executeAllowed.get(name) !== open) return true;
    return false;
  }

  /** Keeps the recheck times the pass's planning gave; a pass that looked at everything replaces them all. */
  #noteRechecks(result: UpdatePassResult, now: number): void {
    if (result.scope === 'all') {
      this.#rechecks.clear();
      this.#sweptAt = now;
    }
    for (const [updateId, at] of result.rechecks) {
      if (at === undefined) this.#rechecks.delete(updateId);
      else this.#rechecks.set(updateId, at);
    }
  }

  /** What the next pass looks at; clears the changes collected so far. */
  #takeScope(all: boolean): ActiveScope {
    const createdSince = this.#createdSince;
    const scope: ActiveScope = all
      ? ALL_ACTIVE
      : {
          kind: 'changed',
          endpoints: [...this.#endpoints],
          updateIds: [...this.#updates],
          ...(createdSince === undefined ? {} : { createdSince }),
        };
    this.#createdSince = undefined;
    this.#all = false;
    this.#endpoints = new Set();
    this.#updates = new Set();
    return scope;
  }
}

function executeAllowedNow(desired: DesiredState, now: number): Map<string, boolean> {
  const allowed = new Map<string, boolean>();
  for (const [name, rollout] of desired.rollouts) {
    allowed.set(name, windowState(rollout.window, now).kind !== 'closed');
  }
  return allowed;
}
