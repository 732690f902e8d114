import { expiresAt, type Registration } from '../lwm2m/registration/registration.js';
import type { NewEvent } from '../store/schema.js';

function where(reg: Registration): string {
  return reg.address.includes(':') ? `[${reg.address}]:${reg.port}` : `${reg.address}:${reg.port}`;
}

export function registeredEvent(
  reg: Registration,
  previous: Registration | undefined,
  now: number,
): NewEvent {
  const again = previous === undefined ? '' : `, replacing the registration from ${where(previous)}`;
  return {
    at: new Date(now),
    endpoint: reg.endpoint,
    type: 'DeviceRegistered',
    message: `registered from ${where(reg)} (LwM2M ${reg.lwm2mVersion}, lifetime ${reg.lifetime} s${again})`,
    details: JSON.stringify({
      registrationId: reg.id,
      address: reg.address,
      port: reg.port,
      lifetime: reg.lifetime,
      lwm2mVersion: reg.lwm2mVersion,
      binding: reg.binding,
      queueMode: reg.queueMode,
      ...(previous === undefined
        ? {}
        : { previous: { registrationId: previous.id, address: previous.address, port: previous.port } }),
    }),
  };
}

export function deregisteredEvent(reg: Registration, now: number): NewEvent {
  return {
    at: new Date(now),
    endpoint: reg.endpoint,
    type: 'DeviceDeregistered',
    message: `de-registered from ${where(reg)}`,
    details: JSON.stringify({ registrationId: reg.id }),
  };
}

export function expiredEvent(reg: Registration, now: number): NewEvent {
  return {
    at: new Date(now),
    endpoint: reg.endpoint,
    type: 'DeviceExpired',
    message: `registration expired: no Update within its lifetime of ${reg.lifetime} s`,
    details: JSON.stringify({
      registrationId: reg.id,
      lastSeenAt: new Date(reg.lastUpdateAt).toISOString(),
      expiresAt: new Date(expiresAt(reg)).toISOString(),
    }),
  };
}
