import type { PeerAddress } from '../coap/udp-endpoint.js';

/**
 * The LwM2M servers a device may register with, in order, and the one it talks to now. A device
 * whose Register gets no answer moves on to the next server, as LwM2M clients fall over after a
 * failed registration; one that went once round every server without an answer waits its
 * Register back-off before the next.
 */
export class ServerFailover {
  readonly servers: readonly PeerAddress[];
  #index = 0;
  /** Servers that left a Register unanswered since the last answer. */
  #unanswered = 0;

  constructor(servers: readonly PeerAddress[]) {
    if (servers.length === 0) throw new Error('a device needs at least one server');
    this.servers = servers;
  }

  get current(): PeerAddress {
    return this.servers[this.#index]!;
  }

  /** A server answered a Register (even with an error): the round starts again. */
  answered(): void {
    this.#unanswered = 0;
  }

  /**
   * The current server left a Register unanswered: the next one becomes current. `retryNow` is
   * true while some server of this round has not been tried yet (no back-off before it).
   */
  unanswered(): { readonly moved: boolean; readonly retryNow: boolean } {
    if (this.servers.length === 1) return { moved: false, retryNow: false };
    this.#unanswered++;
    this.#index = (this.#index + 1) % this.servers.length;
    const retryNow = this.#unanswered < this.servers.length;
    if (!retryNow) this.#unanswered = 0;
    return { moved: true, retryNow };
  }
}
