import type { Runnable } from './runnable.js';

/**
 * A part that opens one resource on start (a server, a connection, a watcher) and closes it on
 * stop. `current` is the open resource, for the parts that use it.
 */
export class ResourcePart<T> implements Runnable {
  readonly name: string;
  readonly #open: () => Promise<T>;
  readonly #close: (resource: T) => Promise<void> | void;
  #resource: { readonly value: T } | undefined;

  constructor(name: string, open: () => Promise<T>, close: (resource: T) => Promise<void> | void) {
    this.name = name;
    this.#open = open;
    this.#close = close;
  }

  /** The open resource; throws when the part is not running (a wiring mistake). */
  get current(): T {
    if (this.#resource === undefined) throw new Error(`${this.name} is not running`);
    return this.#resource.value;
  }

  get running(): boolean {
    return this.#resource !== undefined;
  }

  async start(): Promise<void> {
    this.#resource = { value: await this.#open() };
  }

  async stop(): Promise<void> {
    const resource = this.#resource;
    this.#resource = undefined;
    if (resource !== undefined) await this.#close(resource.value);
  }
}
