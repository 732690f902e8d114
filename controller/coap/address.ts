/** A UDP peer. `address` is what the socket reported (sendable as is); `host` is its normalised form. */
export interface Peer {
  readonly address: string;
  readonly port: number;
  /**
   * The identity the peer's secure session authenticated (a DTLS PSK identity), on a transport that
   * authenticates; absent on plain UDP. Not part of the peer's key: each transport keeps its own peers.
   */
  readonly identity?: string;
}

const V4_MAPPED = '::ffff:';

/**
 * Normalised addresses by the text the socket reported. Devices behind a NAT (most cellular fleets)
 * share a few addresses, so their registrations then share one string each; bounded for fleets
 * that do not.
 */
const normalised = new Map<string, string>();
const MAX_REMEMBERED = 4096;

/** `::ffff:a.b.c.d` (an IPv4 peer seen on a dual-stack socket) becomes `a.b.c.d`; zone ids are dropped. */
export function normaliseAddress(address: string): string {
  const known = normalised.get(address);
  if (known !== undefined) return known;
  const lower = address.toLowerCase();
  const zone = lower.indexOf('%');
  const normal =
    lower.startsWith(V4_MAPPED) && lower.includes('.')
      ? lower.slice(V4_MAPPED.length)
      : zone < 0
        ? lower
        : lower.slice(0, zone);
  if (normalised.size >= MAX_REMEMBERED) normalised.clear();
  normalised.set(address, normal);
  return normal;
}

/** The identity of a peer: normalised address and port. */
export function peerKey(peer: Peer): string {
  return `${normaliseAddress(peer.address)}|${peer.port}`;
}
