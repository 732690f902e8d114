/**
 * A long-running part of the controller (controller-runtime's Runnable): a server, a watcher, a
 * loop. A `Manager` starts parts in order and stops them in reverse.
 */
export interface Runnable {
  /** Names the part in logs and errors ("http server", "database"). */
  readonly name: string;
  /**
   * Acquires what the part holds (ports, timers, connections) and resolves once it is ready.
   * A start that can take long may give up early when `signal` aborts (its manager is stopping).
   * Whether it resolves or rejects, `stop` is called afterwards and releases what it acquired.
   */
  start(signal?: AbortSignal): Promise<void>;
  /** Releases what `start` acquired, also after a failed or aborted start; never called twice. */
  stop(): Promise<void>;
}
