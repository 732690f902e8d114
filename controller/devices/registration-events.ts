import { normaliseAddress } from '../coap/address.js';
import type { RegistrationRefusedEvent } from '../lwm2m/index.js';
import { expiresAt, type Registration } from '../lwm2m/registration/registration.js';
import type { NewEvent } from '../store/schema.js';

/**
 * Events of a registration's life. Events are public (API, event stream, CLI), so none carries the
 * registration id: whoever holds an id could try to use it. Each records `source`, the address and
 * port the change came from (an expiry: the one it was last heard from).
 */

/** "a.b.c.d:port" or "[v6]:port". */
export function registrationSource(reg: Pick<Registration, 'address' | 'port'>): string {
  return reg.address.includes(':') ? `[${reg.address}]:${reg.port}` : `${reg.address}:${reg.port}`;
}

export function registeredEvent(
  reg: Registration,
  previous: Registration | undefined,
  now: number,
): NewEvent {
  const source = registrationSource(reg);
  const again =
    previous === undefined ? '' : `, replacing the registration from ${registrationSource(previous)}`;
  return {
    at: new Date(now),
    endpoint: reg.endpoint,
    type: 'DeviceRegistered',
    message: `registered from ${source} (LwM2M ${reg.lwm2mVersion}, lifetime ${reg.lifetime} s${again})`,
    details: JSON.stringify({
      source,
      address: reg.address,
      port: reg.port,
      lifetime: reg.lifetime,
      lwm2mVersion: reg.lwm2mVersion,
      binding: reg.binding,
      queueMode: reg.queueMode,
      ...(previous === undefined ? {} : { previous: { source: registrationSource(previous) } }),
    }),
  };
}

/** Object links longer than this are recorded cut (a body may be 64 KiB; events are for people). */
const MAX_LINKS_IN_EVENT = 512;

function cut(links: string): string {
  return links.length <= MAX_LINKS_IN_EVENT ? links : `${links.slice(0, MAX_LINKS_IN_EVENT)}…`;
}

interface Change<T> {
  readonly from: T;
  readonly to: T;
}

/** What an Update changed; empty for a keep-alive. */
export function registrationChanges(
  previous: Registration,
  reg: Registration,
): Record<string, Change<unknown>> {
  const changes: Record<string, Change<unknown>> = {};
  const from = registrationSource(previous);
  const to = registrationSource(reg);
  if (from !== to) changes.source = { from, to };
  if (previous.lifetime !== reg.lifetime) changes.lifetime = { from: previous.lifetime, to: reg.lifetime };
  if (previous.binding !== reg.binding) changes.binding = { from: previous.binding, to: reg.binding };
  if (previous.queueMode !== reg.queueMode)
    changes.queueMode = { from: previous.queueMode, to: reg.queueMode };
  if (previous.links !== reg.links) changes.objectLinks = { from: cut(previous.links), to: cut(reg.links) };
  return changes;
}

function describe(name: string, change: Change<unknown>): string {
  switch (name) {
    case 'lifetime':
      return `lifetime ${change.from} -> ${change.to} s`;
    case 'objectLinks':
      return 'object links changed';
    case 'queueMode':
      return change.to ? 'queue mode on' : 'queue mode off';
    default:
      return `${name} ${change.from} -> ${change.to}`;
  }
}

/** DeviceRegistrationUpdated, or undefined when the Update changed nothing (a keep-alive). */
export function registrationUpdatedEvent(
  reg: Registration,
  previous: Registration,
  now: number,
): NewEvent | undefined {
  const changes = registrationChanges(previous, reg);
  const names = Object.keys(changes);
  if (names.length === 0) return undefined;
  const source = registrationSource(reg);
  return {
    at: new Date(now),
    endpoint: reg.endpoint,
    type: 'DeviceRegistrationUpdated',
    message: `registration updated from ${source}: ${names.map((n) => describe(n, changes[n]!)).join(', ')}`,
    details: JSON.stringify({ source, changes }),
  };
}

export function deregisteredEvent(reg: Registration, now: number): NewEvent {
  const source = registrationSource(reg);
  return {
    at: new Date(now),
    endpoint: reg.endpoint,
    type: 'DeviceDeregistered',
    message: `de-registered from ${source}`,
    details: JSON.stringify({ source }),
  };
}

export function expiredEvent(reg: Registration, now: number): NewEvent {
  return {
    at: new Date(now),
    endpoint: reg.endpoint,
    type: 'DeviceExpired',
    message: `registration expired: no Update within its lifetime of ${reg.lifetime} s`,
    details: JSON.stringify({
      source: registrationSource(reg),
      lastSeenAt: new Date(reg.lastUpdateAt).toISOString(),
      expiresAt: new Date(expiresAt(reg)).toISOString(),
    }),
  };
}

const REFUSED_BECAUSE: Record<RegistrationRefusedEvent['reason'], string> = {
  'identity-of-another-endpoint': 'its DTLS identity belongs to another endpoint',
  'credentials-required': 'the endpoint has credentials and must use DTLS',
  takeover: 'the endpoint is registered over DTLS and the request did not authenticate as it',
  'another-source': 'it came from another source than the registration',
};

/** A Register (4.03), Update or De-register (4.04) refused for who sent it; the identity is not secret. */
export function registrationRefusedEvent(e: RegistrationRefusedEvent, now: number): NewEvent {
  const source = registrationSource({ address: normaliseAddress(e.peer.address), port: e.peer.port });
  const operation =
    e.operation === 'deregister' ? 'De-register' : e.operation === 'update' ? 'Update' : 'Register';
  return {
    at: new Date(now),
    endpoint: e.endpoint,
    type: 'DeviceRegistrationRefused',
    message: `${operation} from ${source} refused: ${REFUSED_BECAUSE[e.reason]}`,
    details: JSON.stringify({
      operation: e.operation,
      reason: e.reason,
      source,
      security: e.security,
      ...(e.peer.identity === undefined ? {} : { identity: e.peer.identity }),
    }),
  };
}
