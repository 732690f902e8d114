import type { Kysely } from 'kysely';
import type { Logger } from '../log/index.js';
import type { DesiredState } from '../manifests/index.js';
import type { Metrics } from '../metrics/index.js';
import {
  type ActiveUpdate,
  DEFAULT_TIMEOUTS,
  type ExecutorDeps,
  outcomeLabel,
  type PackageUriChoice,
  Reconciler,
  type ReconcilerOptions,
} from '../reconcile/index.js';
import type { Database } from '../store/index.js';
import type { Runnable } from './runnable.js';

export interface ReconcilerPartOptions {
  readonly db: Kysely<Database>;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly ops: ExecutorDeps['ops'];
  readonly desired: () => DesiredState | undefined;
  readonly packageUri: (update: ActiveUpdate) => PackageUriChoice;
  readonly options?: ReconcilerOptions;
}

/**
 * The reconcile loop, started last: by then the manifests are loaded and the servers listen.
 * Triggers before it starts (and after it stops) are dropped; its first pass looks at everything.
 */
export class ReconcilerPart implements Runnable {
  readonly name = 'reconciler';
  readonly #options: ReconcilerPartOptions;
  #reconciler: Reconciler | undefined;

  constructor(options: ReconcilerPartOptions) {
    this.#options = options;
  }

  get reconciler(): Reconciler {
    if (this.#reconciler === undefined) throw new Error(`${this.name} is not running`);
    return this.#reconciler;
  }

  /** Asks for a pass soon (see Reconciler.trigger). */
  trigger(change?: Parameters<Reconciler['trigger']>[0]): void {
    this.#reconciler?.trigger(change);
  }

  /** Whether passes have been failing long enough to report (readiness, metrics). */
  failing(now: number): boolean {
    return this.#reconciler?.failing(now) ?? false;
  }

  async start(): Promise<void> {
    const { metrics, desired, logger } = this.#options;
    const reconciler = new Reconciler(
      {
        db: this.#options.db,
        clock: this.#options.clock,
        logger,
        packageUri: this.#options.packageUri,
        timeoutsOf: (name) => desired()?.rollouts.get(name)?.timeouts ?? DEFAULT_TIMEOUTS,
        retriesOf: (name) => desired()?.rollouts.get(name)?.retries.max ?? 0,
        ops: this.#options.ops,
        hooks: {
          onStarted: (rollout) => metrics.updatesStarted.inc({ rollout }),
          onFinished: (rollout, outcome) =>
            metrics.updatesFinished.inc({ rollout, outcome: outcome.phase, reason: outcomeLabel(outcome) }),
        },
      },
      desired,
      {
        ...this.#options.options,
        logger,
        onPass: (_result, seconds) => metrics.reconcilePassSeconds.observe(seconds),
        onFailure: (scope) => metrics.reconcileErrors.inc({ scope }),
      },
    );
    this.#reconciler = reconciler;
    reconciler.start();
  }

  async stop(): Promise<void> {
    await this.#reconciler?.stop();
  }
}
