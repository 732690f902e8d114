import { expiresAt, type Registration } from './registration.js';

/** In-memory registrations, indexed by id and by endpoint. Mutations return what changed. */
export class RegistrationStore {
  readonly #byId = new Map<string, Registration>();
  readonly #byEndpoint = new Map<string, Registration>();

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): Registration | undefined {
    return this.#byId.get(id);
  }

  byEndpoint(endpoint: string): Registration | undefined {
    return this.#byEndpoint.get(endpoint);
  }

  values(): IterableIterator<Registration> {
    return this.#byId.values();
  }

  /** Adds a registration; one already held for the same endpoint is replaced and returned. */
  add(reg: Registration): { readonly previous: Registration | undefined } {
    const previous = this.#byEndpoint.get(reg.endpoint);
    if (previous !== undefined) this.#byId.delete(previous.id);
    this.#byId.set(reg.id, reg);
    this.#byEndpoint.set(reg.endpoint, reg);
    return { previous };
  }

  /** Replaces the registration with the same id. */
  update(reg: Registration): { readonly previous: Registration } | undefined {
    const previous = this.#byId.get(reg.id);
    if (previous === undefined) return undefined;
    this.#byId.set(reg.id, reg);
    this.#byEndpoint.set(reg.endpoint, reg);
    return { previous };
  }

  remove(id: string): Registration | undefined {
    const reg = this.#byId.get(id);
    if (reg === undefined) return undefined;
    this.#byId.delete(id);
    if (this.#byEndpoint.get(reg.endpoint) === reg) this.#byEndpoint.delete(reg.endpoint);
    return reg;
  }

  /** Removes and returns every registration whose lifetime (plus grace) ended before `now`. */
  removeExpired(now: number, graceMs: number): Registration[] {
    const out: Registration[] = [];
    for (const reg of this.#byId.values()) {
      if (expiresAt(reg) + graceMs < now) out.push(reg);
    }
    for (const reg of out) this.remove(reg.id);
    return out;
  }
}
