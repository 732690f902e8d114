import type { Observation } from '../downlink/results.js';

/**
 * An observation the registry can hold: `next` chains the observations of one endpoint, so that
 * the registry costs one map entry per observed endpoint and nothing per observation.
 */
export interface TrackedObservation extends Observation {
  next: TrackedObservation | undefined;
}

/**
 * The live observations of every device, kept once: the device client tracks an observation when
 * the device accepts it and untracks it when it is cancelled or ends; the server drops an
 * endpoint's observations when its registration is replaced or ends; device sync asks what is
 * observed.
 */
export class ObservationRegistry {
  /** The most recent live observation of each endpoint; the others hang off its `next`. */
  readonly #heads = new Map<string, TrackedObservation>();

  /** Endpoints with at least one live observation. */
  get endpoints(): number {
    return this.#heads.size;
  }

  /**
   * Tracks `obs`, replacing a live observation of the same path: one path is observed once, and
   * the replaced one is cancelled without telling the device (it RSTs its next notification).
   */
  track(obs: TrackedObservation): void {
    for (let old = this.#heads.get(obs.endpoint); old !== undefined; old = old.next) {
      if (old.path === obs.path && old !== obs) {
        this.untrack(old);
        void old.cancel({ active: false }).catch(() => {});
        break;
      }
    }
    obs.next = this.#heads.get(obs.endpoint);
    this.#heads.set(obs.endpoint, obs);
  }

  /** Forgets `obs`; a no-op when it is not tracked. */
  untrack(obs: TrackedObservation): void {
    const head = this.#heads.get(obs.endpoint);
    if (head === obs) {
      if (obs.next === undefined) this.#heads.delete(obs.endpoint);
      else this.#heads.set(obs.endpoint, obs.next);
    } else {
      let prev = head;
      while (prev !== undefined && prev.next !== obs) prev = prev.next;
      if (prev !== undefined) prev.next = obs.next;
    }
    obs.next = undefined;
  }

  /** The live observations of `endpoint`, most recent first. */
  *of(endpoint: string): IterableIterator<Observation> {
    for (let obs = this.#heads.get(endpoint); obs !== undefined; obs = obs.next) yield obs;
  }

  /** Whether `endpoint` has a live observation (of `path`, when given). */
  has(endpoint: string, path?: string): boolean {
    if (path === undefined) return this.#heads.has(endpoint);
    for (const obs of this.of(endpoint)) if (obs.path === path) return true;
    return false;
  }

  /**
   * Forgets every observation of `endpoint` and cancels them without telling the device (its
   * registration was replaced or ended: the device RSTs the next notification).
   */
  dropEndpoint(endpoint: string): void {
    let obs = this.#heads.get(endpoint);
    this.#heads.delete(endpoint);
    while (obs !== undefined) {
      const next = obs.next;
      obs.next = undefined;
      void obs.cancel({ active: false });
      obs = next;
    }
  }

  /**
   * Cancels, without telling the devices, every live observation `which` selects (all without it);
   * resolves once every cancel settled, whether or not it failed.
   */
  async cancelAll(which?: (obs: Observation) => boolean): Promise<void> {
    const chosen: Observation[] = [];
    for (const head of this.#heads.values()) {
      for (let obs: TrackedObservation | undefined = head; obs !== undefined; obs = obs.next) {
        if (which === undefined || which(obs)) chosen.push(obs);
      }
    }
    await Promise.all(chosen.map((obs) => obs.cancel({ active: false }).catch(() => {})));
  }
}
