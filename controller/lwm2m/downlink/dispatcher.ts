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

export interface Dispatcher {
  dispatch<T extends { readonly kind: string }>(endpoint: string, job: Job<T>): Promise<T | Unreachable>;
}
