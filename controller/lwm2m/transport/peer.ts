/** A UDP peer. `address` is what the socket reported (sendable as is); `host` is its normalised form. */
export interface Peer {
  readonly address: string;
  readonly port: number;
}

const V4_MAPPED = '::ffff:';

/** `::ffff:a.b.c.d` (an IPv4 peer seen on a dual-stack socket) becomes `a.b.c.d`; zone ids are dropped. */
export function normaliseAddress(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith(V4_MAPPED) && lower.includes('.')) return lower.slice(V4_MAPPED.length);
  const zone = lower.indexOf('%');
  return zone < 0 ? lower : lower.slice(0, zone);
}

/** The identity of a peer: normalised address and port. */
export function peerKey(peer: Peer): string {
  return `${normaliseAddress(peer.address)}|${peer.port}`;
}
