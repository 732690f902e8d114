/**
 * Concurrent uses per client key, up to `max`; beyond that a bounded FIFO queue per client. A fleet
 * behind one NAT address shares one key: its requests over `max` wait their turn instead of being
 * refused. Only a client whose queue is full (one that opens far more requests than any rollout
 * admits) is turned away.
 */
export interface ClientLimiter {
  /** The release function, or undefined when the client is at its bound (then `wait`). */
  tryAcquire(client: string): (() => void) | undefined;
  /**
   * A place in the client's queue: resolves with the release function once a slot is free, or with
   * undefined when `signal` aborts first (the client went away). Undefined at once when the queue
   * is full.
   */
  wait(client: string, signal: AbortSignal): Promise<(() => void) | undefined> | undefined;
  active(client: string): number;
  waiting(client: string): number;
}

export interface ClientLimits {
  /** Concurrent uses one client may hold. */
  readonly max: number;
  /** Uses one client may have waiting for a slot; 0 refuses at once beyond `max`. */
  readonly queue: number;
}

interface Waiter {
  readonly grant: (release: () => void) => void;
}

export function createClientLimiter(limits: ClientLimits): ClientLimiter {
  const counts = new Map<string, number>();
  const queues = new Map<string, Waiter[]>();

  const take = (client: string): (() => void) => {
    counts.set(client, (counts.get(client) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (counts.get(client) ?? 1) - 1;
      if (left <= 0) counts.delete(client);
      else counts.set(client, left);
      handOver(client);
    };
  };

  // A freed slot goes straight to the oldest waiter of the same client.
  const handOver = (client: string): void => {
    const queue = queues.get(client);
    const next = queue?.shift();
    if (queue !== undefined && queue.length === 0) queues.delete(client);
    next?.grant(take(client));
  };

  return {
    active: (client) => counts.get(client) ?? 0,
    waiting: (client) => queues.get(client)?.length ?? 0,
    tryAcquire(client) {
      if ((counts.get(client) ?? 0) >= limits.max || queues.has(client)) return undefined;
      return take(client);
    },
    wait(client, signal) {
      const queue = queues.get(client) ?? [];
      if (queue.length >= limits.queue) return undefined;
      if (signal.aborted) return Promise.resolve(undefined);
      queues.set(client, queue);
      return new Promise((resolve) => {
        const waiter: Waiter = {
          grant: (release) => {
            signal.removeEventListener('abort', leave);
            resolve(release);
          },
        };
        const leave = () => {
          const current = queues.get(client);
          const at = current?.indexOf(waiter) ?? -1;
          if (current !== undefined && at !== -1) {
            current.splice(at, 1);
            if (current.length === 0) queues.delete(client);
          }
          resolve(undefined);
        };
        signal.addEventListener('abort', leave, { once: true });
        queue.push(waiter);
        // The slot may have been freed between tryAcquire and now (it cannot in one turn, but a
        // caller may wait later): hand it over at once.
        if ((counts.get(client) ?? 0) < limits.max) handOver(client);
      });
    },
  };
}
