/** Counts concurrent uses per client key and refuses beyond `max`. */
export interface ClientLimiter {
  /** Returns the release function, or undefined when the client is at its bound. */
  tryAcquire(client: string): (() => void) | undefined;
  active(client: string): number;
}

export function createClientLimiter(max: number): ClientLimiter {
  const counts = new Map<string, number>();
  return {
    active: (client) => counts.get(client) ?? 0,
    tryAcquire(client) {
      const current = counts.get(client) ?? 0;
      if (current >= max) return undefined;
      counts.set(client, current + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (counts.get(client) ?? 1) - 1;
        if (left <= 0) counts.delete(client);
        else counts.set(client, left);
      };
    },
  };
}
