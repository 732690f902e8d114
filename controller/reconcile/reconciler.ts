import { EventEmitter } from 'node:events';
import type { DesiredState } from '../manifests/index.js';
import type { ExecutorDeps } from './executor.js';
import { type PassOptions, type PassResult, reconcilePass } from './reconcile-pass.js';
import { UpdateWorkQueue } from './update-work-queue.js';

export interface ReconcilerOptions extends Partial<PassOptions> {
  /** Passes run at least this often (timeouts, pauses and backoffs are noticed by it). */
  readonly intervalMs?: number;
  /** Triggers within this span collapse into one pass. */
  readonly coalesceMs?: number;
  readonly logger?: { error(obj: object, msg: string): void };
  readonly onPass?: (result: PassResult, seconds: number) => void;
}

interface ReconcilerEvents {
  pass: [PassResult];
  error: [unknown];
}

/**
 * The driver loop: one pass at a time; any number of triggers (manifest change, device event,
 * timer) during a pass collapse into one more pass after it. A failing pass is retried with
 * backoff; it never stops the loop.
 */
export class Reconciler extends EventEmitter<ReconcilerEvents> {
  readonly #deps: ExecutorDeps;
  readonly #desired: () => DesiredState | undefined;
  readonly #options: Required<Pick<ReconcilerOptions, 'intervalMs' | 'coalesceMs'>> & PassOptions;
  readonly #logger: ReconcilerOptions['logger'];
  readonly #onPass: ReconcilerOptions['onPass'];
  #timer: NodeJS.Timeout | undefined;
  #pending: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #dirty = false;
  #stopped = true;
  #failures = 0;
  #healthy = true;

  constructor(deps: ExecutorDeps, desired: () => DesiredState | undefined, options: ReconcilerOptions = {}) {
    super();
    this.#deps = deps;
    this.#desired = desired;
    this.#options = {
      intervalMs: options.intervalMs ?? 2_000,
      coalesceMs: options.coalesceMs ?? 20,
      pollQuietMs: options.pollQuietMs ?? 30_000,
      concurrency: options.concurrency ?? 256,
      work: new UpdateWorkQueue(
        options.concurrency ?? 256,
        // A settled device request changed the database: look again.
        () => this.trigger(),
        (error) =>
          this.#logger?.error(
            { err: error },
            'a device request of the reconciler failed; retried on a later pass',
          ),
      ),
    };
    this.#logger = options.logger;
    this.#onPass = options.onPass;
  }

  /** Whether the last pass succeeded (readiness). */
  get healthy(): boolean {
    return this.#healthy;
  }

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => this.trigger(), this.#options.intervalMs);
    this.#timer.unref();
    this.trigger();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#pending);
    await this.#running;
    await this.#options.work?.drain();
  }

  /** Asks for a pass soon; cheap and safe to call for every device event. */
  trigger(): void {
    if (this.#stopped) return;
    this.#dirty = true;
    if (this.#running || this.#pending) return;
    const delay = this.#failures > 0 ? Math.min(30_000, 250 * 2 ** this.#failures) : this.#options.coalesceMs;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      this.#running = this.#loop().finally(() => {
        this.#running = undefined;
        if (this.#dirty) this.trigger();
      });
    }, delay);
  }

  async #loop(): Promise<void> {
    while (this.#dirty && !this.#stopped) {
      this.#dirty = false;
      const began = performance.now();
      try {
        const result = await reconcilePass(this.#deps, this.#desired(), this.#options);
        this.#failures = 0;
        this.#healthy = true;
        this.#onPass?.(result, (performance.now() - began) / 1000);
        this.emit('pass', result);
      } catch (error) {
        this.#failures++;
        this.#healthy = false;
        this.#dirty = true;
        this.#logger?.error(
          { err: error, failures: this.#failures },
          'reconcile pass failed; retrying with backoff',
        );
        if (this.listenerCount('error') > 0) this.emit('error', error);
        return;
      }
    }
  }
}
