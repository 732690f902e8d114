/** Why a slot (a connection, a stream) was refused to a client address. */
export type ShareRefusal = 'address-full' | 'server-full';

export interface ShareBounds {
  /** Slots in all. */
  readonly max: number;
  /** Slots an address always gets while any is free. */
  readonly share: number;
  /** Beyond its share an address borrows a free slot only while more than this many stay free. */
  readonly reserve: number;
  /** Slots one address may never exceed, borrowed or not. Default: no bound but `max`. */
  readonly cap?: number;
}

/**
 * Whether an address holding `held` of the `taken` slots may take one more. Greedy addresses
 * (a NAT'd fleet, or an attacker) may borrow what is free, but never the reserve: an address
 * that comes later always finds its share.
 */
export function admitSlot(bounds: ShareBounds, taken: number, held: number): ShareRefusal | undefined {
  if (taken >= bounds.max) return 'server-full';
  if (bounds.cap !== undefined && held >= bounds.cap) return 'address-full';
  if (held >= bounds.share && bounds.max - taken - 1 < bounds.reserve) return 'address-full';
  return undefined;
}
