import {
  ASLEEP,
  type DeviceTarget,
  type Dispatcher,
  type Job,
  type RequestGate,
  type Unreachable,
} from './dispatcher.js';

export interface QueueModeOptions {
  /** How long a queue-mode device listens after a Register/Update (CoAP MAX_TRANSMIT_WAIT, 93 s). */
  readonly awakeMs: number;
  /** Requests waiting per sleeping device; more are refused as `unreachable`. */
  readonly maxQueued: number;
  readonly clock: () => number;
}

interface Waiting {
  readonly run: () => Promise<void>;
  readonly fail: (reason: string) => void;
  /** False: ends, unsent, when the device falls asleep before its turn (`RequestGate.waitsForWake`). */
  readonly waitsForWake: boolean;
}

interface QueueState {
  awakeUntil: number;
  draining: boolean;
  readonly waiting: Waiting[];
}

/**
 * Queue mode as a wrapper around the direct dispatcher: requests for a queue-mode device that is not
 * listening wait, bounded, until it sends a Register or Update (`wake`). A timeout puts it back to sleep.
 *
 * A waiting request holds nothing shared: its gate gives the caller's slot back while it waits
 * (one sleeping device must not hold up requests to the others) and takes it again before the
 * request is sent, after which the gate's checks run. Each request is sent at most once.
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

  dispatch<T extends { readonly kind: string }>(
    endpoint: string,
    job: Job<T>,
    gate?: RequestGate,
  ): Promise<T | Unreachable> {
    const target = this.target(endpoint);
    if (target === undefined) return Promise.resolve({ kind: 'unreachable', reason: 'not registered' });
    if (!target.registration.queueMode) return this.#send(undefined, target, job, gate);
    const state = this.#state(endpoint);
    const awake = this.#awake(state);
    if (awake && !state.draining && state.waiting.length === 0) {
      return this.#send(state, target, job, gate);
    }
    const waitsForWake = gate?.waitsForWake !== false;
    if (!awake && !waitsForWake) return Promise.resolve(ASLEEP);
    if (state.waiting.length >= this.opts.maxQueued) {
      return Promise.resolve({ kind: 'unreachable', reason: 'request queue full' });
    }
    return new Promise<T | Unreachable>((resolve) => {
      const waiting: Waiting = {
        run: async () => {
          await gate?.reacquire();
          // The registration may have ended while the slot was taken again.
          const current = this.target(endpoint);
          resolve(
            current === undefined
              ? { kind: 'unreachable', reason: 'not registered' }
              : await this.#send(state, current, job, gate),
          );
        },
        fail: (reason) => {
          const unsent = { kind: 'unreachable', reason } as const;
          if (gate === undefined) resolve(unsent);
          else void gate.reacquire().then(() => resolve(unsent));
        },
        waitsForWake,
      };
      state.waiting.push(waiting);
      gate?.release();
      void gate?.expired?.then((reason) => {
        const at = state.waiting.indexOf(waiting);
        if (at < 0) return;
        state.waiting.splice(at, 1);
        waiting.fail(reason);
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

  /** Sends now, unless the gate refuses; a queue-mode device that does not answer is asleep again. */
  async #send<T extends { readonly kind: string }>(
    state: QueueState | undefined,
    target: DeviceTarget,
    job: Job<T>,
    gate: RequestGate | undefined,
  ): Promise<T | Unreachable> {
    const refused = gate?.refusal?.();
    if (refused !== undefined) return { kind: 'unreachable', reason: refused };
    const result = await job(target);
    if (state !== undefined && result.kind === 'timeout') state.awakeUntil = 0;
    return result;
  }

  async #drain(endpoint: string, state: QueueState): Promise<void> {
    if (state.draining) return;
    state.draining = true;
    try {
      while (state.waiting.length > 0 && this.#awake(state)) {
        if (this.target(endpoint) === undefined) {
          this.drop(endpoint, 'not registered');
          return;
        }
        await state.waiting.shift()!.run();
      }
    } finally {
      state.draining = false;
    }
    // Asleep again before their turn: what does not wait for the next wake ends now.
    if (!this.#awake(state) && state.waiting.some((w) => !w.waitsForWake)) {
      const ending = state.waiting.filter((w) => !w.waitsForWake);
      state.waiting.splice(0, state.waiting.length, ...state.waiting.filter((w) => w.waitsForWake));
      for (const w of ending) w.fail(ASLEEP.reason);
    }
  }
}
