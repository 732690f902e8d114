import { normaliseAddress } from '../coap/address.js';

/** A client's address as one identity (`::ffff:1.2.3.4` is `1.2.3.4`); 'unknown' when the socket has none. */
export function clientAddress(address: string | undefined): string {
  return address === undefined ? 'unknown' : normaliseAddress(address);
}
