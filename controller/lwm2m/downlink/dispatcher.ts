import type { Peer } from '../../coap/address.js';
import type { CoapRequester } from '../../coap/requester.js';
import type { Registration } from '../registration/registration.js';

export interface DeviceTarget {
  readonly registration: Registration;
  readonly peer: Peer;
  /** The CoAP client side of the transport the device registered over. */
  readonly requester: CoapRequester;
}

export type Unreachable = { readonly kind: 'unreachable'; readonly reason: string };

/** Runs one request against the device's current registration. */
export type Job<T> = (target: DeviceTarget) => Promise<T>;

/**
 * The caller's side of a request that may have to wait for a sleeping queue-mode device (hours
 * on NB-IoT): what it holds of something shared (a concurrency slot) it gives back while it
 * waits, and its checks run right before the request is sent, not when it was asked for.
 */
export interface RequestGate {
  /** The request begins to wait for the device to wake: give back what is shared. */
  release(): void;
  /** The wait ended (the device woke, the registration ended, `expired`): resolves once it is held again. */
  reacquire(): Promise<void>;
  /** Right before the request is sent (at once too): why it may no longer be sent, if so. */
  refusal?(): string | undefined;
  /** Settles, with the reason, when a request still waiting for the device is to end unsent. */
  readonly expired?: Promise<string>;
  /**
   * False: the request does not wait for a sleeping device to wake; it ends at once, unsent, as
   * `ASLEEP`, and takes no place in the device's queue. While the device listens it still waits
   * its turn behind the requests being sent to it, and ends so too if the device falls asleep first.
   */
  readonly waitsForWake?: boolean;
}

/** How a request that does not wait for a sleeping device ends when the device is asleep. */
export const ASLEEP: Unreachable = { kind: 'unreachable', reason: 'asleep (queue mode): not sent' };

/** Whether `failure` is `ASLEEP`: not the device's silence, only that it was not listening. */
export function isAsleep(failure: { readonly kind: string; readonly reason?: string }): boolean {
  return failure.kind === 'unreachable' && failure.reason === ASLEEP.reason;
}

export interface Dispatcher {
  dispatch<T extends { readonly kind: string }>(
    endpoint: string,
    job: Job<T>,
    gate?: RequestGate,
  ): Promise<T | Unreachable>;
}

/**
 * `inner` (a slot taken inside the caller's) within `outer`: given back together, and taken again
 * in the order they were first taken (`outer` first), so two requests never wait for each other's
 * slot crosswise; refused or expired when either is.
 */
export function nestedGate(outer: RequestGate | undefined, inner: RequestGate): RequestGate {
  if (outer === undefined) return inner;
  return {
    release() {
      inner.release();
      outer.release();
    },
    async reacquire() {
      await outer.reacquire();
      await inner.reacquire();
    },
    refusal: () => outer.refusal?.() ?? inner.refusal?.(),
    waitsForWake: outer.waitsForWake !== false && inner.waitsForWake !== false,
    // Read only when a request waits: a gate's expiry may start a timer.
    get expired() {
      const [a, b] = [outer.expired, inner.expired];
      return a !== undefined && b !== undefined ? Promise.race([a, b]) : (a ?? b);
    },
  };
}
