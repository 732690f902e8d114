import type { Runnable } from './runnable.js';

/** A part that failed to stop, and why. */
export interface PartStopFailure {
  readonly part: string;
  readonly error: unknown;
}

/**
 * A part failed to start. It and the parts started before it were stopped again, in reverse;
 * `stopFailures` lists those that failed to stop.
 */
export class PartStartError extends Error {
  readonly part: string;
  readonly stopFailures: readonly PartStopFailure[];

  constructor(part: string, cause: unknown, stopFailures: readonly PartStopFailure[] = []) {
    super(`${part}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'PartStartError';
    this.part = part;
    this.stopFailures = stopFailures;
  }
}

/** Some parts failed to stop; every part was still stopped in turn. */
export class PartStopError extends Error {
  readonly failures: readonly PartStopFailure[];

  constructor(failures: readonly PartStopFailure[]) {
    super(`stopping failed: ${failures.map((f) => `${f.part} (${messageOf(f.error)})`).join(', ')}`);
    this.name = 'PartStopError';
    this.failures = failures;
  }
}

/** The manager was stopped before every part had started; those started were stopped again. */
export class StartAbortedError extends Error {
  constructor(manager: string) {
    super(`${manager} was stopped while starting`);
    this.name = 'StartAbortedError';
  }
}

/**
 * Starts parts one after the other, each once the one before it is ready, and stops them in
 * reverse (controller-runtime's Manager). When a part fails to start, the parts started so far
 * (that one included: it may hold half of what it needed) are stopped in reverse and `start`
 * throws a PartStartError naming it. A stop during the start lets the part starting finish (or
 * give up, through its signal), starts no more, and stops those started. A manager is itself a
 * Runnable, so managers nest.
 */
export class Manager implements Runnable {
  readonly name: string;
  readonly #parts: readonly Runnable[];
  /** Parts whose start was called, in order; the last may still be starting. */
  readonly #started: Runnable[] = [];
  readonly #abort = new AbortController();
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(name: string, parts: readonly Runnable[]) {
    this.name = name;
    this.#parts = parts;
  }

  /** Resolves once every part is ready; a stop called meanwhile makes it throw StartAbortedError. */
  start(signal?: AbortSignal): Promise<void> {
    if (this.#starting !== undefined) throw new Error(`${this.name} was already started`);
    if (signal?.aborted) this.#abort.abort();
    else signal?.addEventListener('abort', () => this.#abort.abort(), { once: true });
    this.#starting = this.#startParts();
    return this.#starting;
  }

  async #startParts(): Promise<void> {
    const { signal } = this.#abort;
    for (const part of this.#parts) {
      if (signal.aborted) break;
      this.#started.push(part);
      try {
        await part.start(signal);
      } catch (error) {
        if (signal.aborted) break;
        const failures = await this.#stopStarted();
        throw new PartStartError(part.name, error, failures);
      }
    }
    if (signal.aborted) {
      const failures = await this.#stopStarted();
      if (failures.length > 0) throw new PartStopError(failures);
      throw new StartAbortedError(this.name);
    }
  }

  /** Stops the parts in reverse; waits for a start under way, which then stops what it started. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#abort.abort();
      await this.#starting?.catch(() => {});
      const failures = await this.#stopStarted();
      if (failures.length > 0) throw new PartStopError(failures);
    })();
    return this.#stopping;
  }

  /** Stops every part started so far, last first; a failure does not keep the others running. */
  async #stopStarted(): Promise<PartStopFailure[]> {
    const failures: PartStopFailure[] = [];
    for (let part = this.#started.pop(); part !== undefined; part = this.#started.pop()) {
      try {
        await part.stop();
      } catch (error) {
        failures.push({ part: part.name, error });
      }
    }
    return failures;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
