import type { DeviceTarget, Dispatcher, Job, Unreachable } from './dispatcher.js';

export interface QueueModeOptions {
  /** How long a queue-mode device listens after a Register/Update (CoAP MAX_TRANSMIT_WAIT, 93 s). */
  readonly awakeMs: number;
  /** Requests waiting per sleeping device; more are refused as `unreachable`. */
  readonly maxQueued: number;
  readonly clock: () => number;
}

interface Waiting {
  readonly run: (target: DeviceTarget) => Promise<void>;
  readonly fail: (reason: string) => void;
}

interface QueueState {
  awakeUntil: number;
  draining: boolean;
  readonly waiting: Waiting[];
}

/**
 * Queue mode as a wrapper around the direct dispatcher: requests for a queue-mode device that is not
 * listening wait, bounded, until it sends a Register or Update (`wake`). A timeout puts it back to sleep.
 */
export class QueueModeDispatcher implements Dispatcher {
  readonly #states = new Map<string, QueueState>();

  constructor(
    readonly target: (endpoint: string) => DeviceTarget | undefined,
    readonly opts: QueueModeOptions,
  ) {}

  queued(endpoint: string): number {
    return this.#states.get(endpoint)?.waiting.length ?? 0;
  }

  dispatch<T extends { readonly kind: string }>(endpoint: string, job: Job<T>): Promise<T | Unreachable> {
    const target = this.target(endpoint);
    if (target === undefined) return Promise.resolve({ kind: 'unreachable', reason: 'not registered' });
    if (!target.registration.queueMode) return job(target);
    const state = this.#state(endpoint);
    if (this.#awake(state) && !state.draining && state.waiting.length === 0) {
      return this.#runAwake(endpoint, state, target, job);
    }
    if (state.waiting.length >= this.opts.maxQueued) {
      return Promise.resolve({ kind: 'unreachable', reason: 'request queue full' });
    }
    return new Promise<T | Unreachable>((resolve) => {
      state.waiting.push({
        run: async (t) => resolve(await this.#runAwake(endpoint, state, t, job)),
        fail: (reason) => resolve({ kind: 'unreachable', reason }),
      });
    });
  }

  /** The device just sent Register/Update: it listens for a while; send what waited. */
  wake(endpoint: string): void {
    const state = this.#state(endpoint);
    state.awakeUntil = this.opts.clock() + this.opts.awakeMs;
    void this.#drain(endpoint, state);
  }

  /** The registration is gone: every waiting request fails. */
  drop(endpoint: string, reason: string): void {
    const state = this.#states.get(endpoint);
    if (state === undefined) return;
    this.#states.delete(endpoint);
    for (const w of state.waiting.splice(0)) w.fail(reason);
  }

  #state(endpoint: string): QueueState {
    let state = this.#states.get(endpoint);
    if (state === undefined) {
      state = { awakeUntil: 0, draining: false, waiting: [] };
      this.#states.set(endpoint, state);
    }
    return state;
  }

  #awake(state: QueueState): boolean {
    return this.opts.clock() < state.awakeUntil;
  }

  async #runAwake<T extends { readonly kind: string }>(
    _endpoint: string,
    state: QueueState,
    target: DeviceTarget,
    job: Job<T>,
  ): Promise<T> {
    const result = await job(target);
    if (result.kind === 'timeout') state.awakeUntil = 0;
    return result;
  }

  async #drain(endpoint: string, state: QueueState): Promise<void> {
    if (state.draining) return;
    state.draining = true;
    try {
      while (state.waiting.length > 0 && this.#awake(state)) {
        const target = this.target(endpoint);
        if (target === undefined) {
          this.drop(endpoint, 'not registered');
          return;
        }
        const next = state.waiting.shift()!;
        await next.run(target);
      }
    } finally {
      state.draining = false;
    }
  }
}
