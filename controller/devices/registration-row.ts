import { objectLinksFromRegistration, parseLinkFormat } from '../lwm2m/link-format.js';
import { expiresAt, isSupportedVersion, type Registration } from '../lwm2m/registration/registration.js';
import type { DeviceRow } from '../store/schema.js';
import type { DevicePatch } from './device-patch.js';

/**
 * The registration columns of a device row, as of a Register or an Update; `owner`: the replica
 * that received it (issue 20), which only it can reach the device through.
 */
export function registrationPatch(reg: Registration, now: number, owner?: string): DevicePatch {
  return {
    ...(owner === undefined ? {} : { owner_replica: owner }),
    endpoint: reg.endpoint,
    registration_id: reg.id,
    registration_state: 'registered',
    address: reg.address,
    port: reg.port,
    lifetime_s: reg.lifetime,
    binding: reg.binding,
    queue_mode: reg.queueMode,
    security: reg.security,
    psk_identity: reg.identity ?? null,
    lwm2m_version: reg.lwm2mVersion,
    sms_number: reg.sms ?? null,
    object_links: reg.links,
    registered_at: new Date(reg.registeredAt),
    last_seen_at: new Date(reg.lastUpdateAt),
    expires_at: new Date(expiresAt(reg)),
    updated_at: new Date(now),
  };
}

type RegistrationColumns = Pick<
  DeviceRow,
  | 'endpoint'
  | 'registration_id'
  | 'address'
  | 'port'
  | 'lifetime_s'
  | 'binding'
  | 'queue_mode'
  | 'security'
  | 'psk_identity'
  | 'lwm2m_version'
  | 'sms_number'
  | 'object_links'
  | 'registered_at'
  | 'last_seen_at'
>;

/** Rebuilds the server-side registration from a stored row; undefined when the row lacks a field. */
export function registrationFromRow(row: RegistrationColumns): Registration | undefined {
  const { registration_id: id, address, port, lifetime_s: lifetime, lwm2m_version: version } = row;
  if (id === null || address === null || port === null || lifetime === null || version === null) {
    return undefined;
  }
  if (!isSupportedVersion(version) || row.registered_at === null || row.last_seen_at === null) {
    return undefined;
  }
  const links = row.object_links ?? '';
  const parsed = parseLinkFormat(links);
  const contentFormats = parsed.ok ? objectLinksFromRegistration(parsed.links).contentFormats : undefined;
  return {
    id,
    endpoint: row.endpoint,
    address,
    port,
    security: row.security,
    identity: row.psk_identity ?? undefined,
    lifetime,
    lwm2mVersion: version,
    binding: row.binding ?? 'U',
    queueMode: row.queue_mode,
    sms: row.sms_number ?? undefined,
    links,
    contentFormats,
    registeredAt: row.registered_at.getTime(),
    lastUpdateAt: row.last_seen_at.getTime(),
  };
}
