import { expiresAt, type Registration } from './registration.js';

/** In-memory registrations, indexed by id and by endpoint, counted by address. Mutations return what changed. */
export class RegistrationStore {
  readonly #byId = new Map<string, Registration>();
  readonly #byEndpoint = new Map<string, Registration>();
  /** Registrations per (normalised) address: many devices share one behind a NAT. */
  readonly #perAddress = new Map<string, number>();

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): Registration | undefined {
    return this.#byId.get(id);
  }

  byEndpoint(endpoint: string): Registration | undefined {
    return this.#byEndpoint.get(endpoint);
  }

  /** True when some registration was made from this normalised address. */
  hasAddress(address: string): boolean {
    return this.#perAddress.has(address);
  }

  values(): IterableIterator<Registration> {
    return this.#byId.values();
  }

  /** Adds a registration; one already held for the same endpoint is replaced and returned. */
  add(reg: Registration): { readonly previous: Registration | undefined } {
    const previous = this.#byEndpoint.get(reg.endpoint);
    if (previous !== undefined) this.#unindex(previous);
    const sameId = this.#byId.get(reg.id);
    if (sameId !== undefined) this.#unindex(sameId);
    this.#index(reg);
    return { previous };
  }

  /** Replaces the registration with the same id. */
  update(reg: Registration): { readonly previous: Registration } | undefined {
    const previous = this.#byId.get(reg.id);
    if (previous === undefined) return undefined;
    this.#unindex(previous);
    this.#index(reg);
    return { previous };
  }

  remove(id: string): Registration | undefined {
    const reg = this.#byId.get(id);
    if (reg === undefined) return undefined;
    this.#unindex(reg);
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

  #index(reg: Registration): void {
    this.#byId.set(reg.id, reg);
    this.#byEndpoint.set(reg.endpoint, reg);
    this.#perAddress.set(reg.address, (this.#perAddress.get(reg.address) ?? 0) + 1);
  }

  #unindex(reg: Registration): void {
    if (this.#byId.get(reg.id) !== reg) return;
    this.#byId.delete(reg.id);
    if (this.#byEndpoint.get(reg.endpoint) === reg) this.#byEndpoint.delete(reg.endpoint);
    const left = (this.#perAddress.get(reg.address) ?? 1) - 1;
    if (left > 0) this.#perAddress.set(reg.address, left);
    else this.#perAddress.delete(reg.address);
  }
}
