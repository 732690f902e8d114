import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import type { Fence } from './fence.js';
import { acquireLease, releaseLease, renewLease } from './lease-store.js';
import { DEFAULT_LEASE_TIMING, type LeaseTiming, leaseTimingProblem } from './lease-timing.js';

/** The lease the rollout planner runs under. */
export const PLANNER_LEASE = 'planner';

export type LeaderState =
  | { readonly kind: 'follower' }
  /** `renewedAt`: the monotonic time at which the last successful renewal (or the acquisition) was sent. */
  | { readonly kind: 'leader'; readonly fence: Fence; readonly renewedAt: number };

export interface LeaderElectorOptions {
  readonly db: Kysely<Database>;
  readonly holder: string;
  readonly lease?: string;
  readonly timing?: LeaseTiming;
  /** A monotonic clock in milliseconds (default performance.now): wall-clock jumps must not extend leadership. */
  readonly monotonic?: () => number;
  /**
   * The database is this process's alone (PGlite: its data directory is locked), so it takes the
   * lease at once, whoever held it before (a killed predecessor); default false.
   */
  readonly exclusive?: boolean;
  readonly logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

interface ElectorEvents {
  /** This replica acquired the lease (a new epoch). */
  leading: [Fence];
  /** It stopped acting as leader: not renewed within the renew deadline, lost, released, or stopped. */
  stopped: [{ readonly fence: Fence; readonly why: StopReason }];
}

export type StopReason = 'renew-deadline' | 'lost' | 'released';

/**
 * Leader election on a lease row timed by the database clock (controller-runtime's algorithm, with
 * a fencing epoch). Every `retryMs` a follower tries to acquire and the leader renews. The leader
 * judges its own lease by its monotonic clock from the last renewal it sent that succeeded: once
 * `renewDeadlineMs` passed without one, `current()` no longer returns a fence, before the lease
 * expires for the others (`durationMs` after that renewal reached the database). A write made with
 * a fence that is no longer current is refused by the database anyway (fence.ts).
 */
export class LeaderElector extends EventEmitter<ElectorEvents> {
  readonly #db: Kysely<Database>;
  readonly holder: string;
  readonly lease: string;
  readonly timing: LeaseTiming;
  readonly #monotonic: () => number;
  readonly #logger: LeaderElectorOptions['logger'];
  readonly #exclusive: boolean;
  #state: LeaderState = { kind: 'follower' };
  #tick: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #attempt: Promise<void> | undefined;
  #running = false;
  #failing = false;

  constructor(options: LeaderElectorOptions) {
    super();
    const timing = options.timing ?? DEFAULT_LEASE_TIMING;
    const problem = leaseTimingProblem(timing);
    if (problem) throw new Error(`lease timing: ${problem}`);
    this.#db = options.db;
    this.holder = options.holder;
    this.lease = options.lease ?? PLANNER_LEASE;
    this.timing = timing;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#logger = options.logger;
    this.#exclusive = options.exclusive ?? false;
  }

  /** The fence to write with while this replica may act as leader; undefined otherwise. */
  current(): Fence | undefined {
    this.#checkDeadline();
    return this.#state.kind === 'leader' ? this.#state.fence : undefined;
  }

  get state(): LeaderState {
    this.#checkDeadline();
    return this.#state;
  }

  /**
   * Whether the last attempt to acquire or renew failed: this replica cannot tell whether it should
   * lead (readiness). A follower whose attempts find another holder is not failing.
   */
  get failing(): boolean {
    return this.#failing;
  }

  /** Makes the first attempt (so a lone replica leads once this resolves), then keeps trying. */
  async start(): Promise<void> {
    this.#running = true;
    await this.#tryWithin();
    if (!this.#running) return;
    this.#tick = setInterval(() => {
      if (this.#attempt !== undefined) return;
      this.#attempt = this.#tryWithin().finally(() => (this.#attempt = undefined));
    }, this.timing.retryMs);
    this.#tick.unref();
  }

  /** Stops trying; a leader releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#tick);
    await this.#attempt;
    const state = this.#state;
    if (state.kind !== 'leader') return;
    this.#stepDown('released');
    await releaseLease(this.#db, this.lease, this.holder, state.fence.epoch).catch((error: unknown) =>
      this.#logger?.warn({ err: error }, 'could not release the planner lease; it expires by itself'),
    );
  }

  /** A fenced write was refused: the lease is someone else's now (or expired). */
  lost(fence: Fence): void {
    if (this.#state.kind === 'leader' && this.#state.fence.epoch === fence.epoch) this.#stepDown('lost');
  }

  /**
   * An attempt the database never answers (a partition that drops packets: no error ever comes) is
   * given up after the renew deadline and counts as failing, so readiness says the lease cannot be
   * reached; the replica goes on trying once the database is back.
   */
  async #tryWithin(): Promise<void> {
    const settled = await settledWithin(this.#try(), this.timing.renewDeadlineMs);
    if (settled || !this.#running) return;
    if (!this.#failing) {
      this.#logger?.warn(
        { afterMs: this.timing.renewDeadlineMs },
        'planner lease: the database did not answer the attempt in time',
      );
    }
    this.#failing = true;
  }

  async #try(): Promise<void> {
    this.#checkDeadline();
    const state = this.#state;
    const sentAt = this.#monotonic();
    try {
      if (state.kind === 'leader') {
        const renewed = await renewLease(
          this.#db,
          this.lease,
          this.holder,
          state.fence.epoch,
          this.timing.durationMs,
        );
        this.#failing = false;
        if (this.#state !== state) return; // stepped down meanwhile: a late success does not revive it
        if (renewed) this.#lead(state.fence, sentAt);
        else this.#stepDown('lost');
        return;
      }
      const epoch = await acquireLease(this.#db, this.lease, this.holder, this.timing.durationMs, {
        takeOver: this.#exclusive,
      });
      this.#failing = false;
      if (epoch === undefined || !this.#running) return;
      const fence: Fence = { lease: this.lease, holder: this.holder, epoch };
      this.#lead(fence, sentAt);
      this.#logger?.info({ epoch }, 'acquired the planner lease: this replica plans the rollouts');
      this.emit('leading', fence);
    } catch (error) {
      this.#failing = true;
      this.#logger?.warn(
        { err: error },
        `planner lease: ${state.kind === 'leader' ? 'renewal' : 'acquisition'} failed`,
      );
    }
  }

  #lead(fence: Fence, renewedAt: number): void {
    this.#state = { kind: 'leader', fence, renewedAt };
    clearTimeout(this.#deadline);
    // A timer as well as the checks in current(): the step-down is observable (metrics, events) on time.
    this.#deadline = setTimeout(() => this.#checkDeadline(), this.timing.renewDeadlineMs + 1);
    this.#deadline.unref();
  }

  #checkDeadline(): void {
    const state = this.#state;
    if (state.kind === 'leader' && this.#monotonic() - state.renewedAt >= this.timing.renewDeadlineMs) {
      this.#stepDown('renew-deadline');
    }
  }

  #stepDown(why: StopReason): void {
    const state = this.#state;
    if (state.kind !== 'leader') return;
    this.#state = { kind: 'follower' };
    clearTimeout(this.#deadline);
    if (why !== 'released') {
      this.#logger?.warn({ epoch: state.fence.epoch, why }, 'stopped acting as planner leader');
    }
    this.emit('stopped', { fence: state.fence, why });
  }
}

/** Resolves true when `promise` settles, or false after `ms`, whichever comes first. */
function settledWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}
