import type { SecurityMode } from '../../coap/transport.js';
import { objectLinksFromRegistration, parseLinkFormat, type RegistrationObjects } from '../link-format.js';

/** LwM2M versions this server speaks; a Register with another version gets 4.12 Precondition Failed. */
export const SUPPORTED_LWM2M_VERSIONS = ['1.0', '1.1', '1.2'] as const;
export type Lwm2mVersion = (typeof SUPPORTED_LWM2M_VERSIONS)[number];

export function isSupportedVersion(v: string): v is Lwm2mVersion {
  return (SUPPORTED_LWM2M_VERSIONS as readonly string[]).includes(v);
}

/** The version as the shared constant string, or undefined: a registration then keeps no copy of its own. */
export function supportedVersion(v: string): Lwm2mVersion | undefined {
  return SUPPORTED_LWM2M_VERSIONS.find((known) => known === v);
}

/**
 * One registered device: the live socket state. Kept flat and small (no parsed link objects; those are
 * derived on demand from `links`) because the server holds one per device of the fleet.
 */
export interface Registration {
  readonly id: string;
  readonly endpoint: string;
  /** Normalised peer address (IPv4 peers appear as a.b.c.d, never ::ffff:a.b.c.d). */
  readonly address: string;
  readonly port: number;
  /** The transport it registered over: plain CoAP ('none') or DTLS with a pre-shared key ('psk'). */
  readonly security: SecurityMode;
  /** The PSK identity its DTLS session authenticated; its Updates and De-register must carry it too. */
  readonly identity: string | undefined;
  /** Seconds. */
  readonly lifetime: number;
  readonly lwm2mVersion: Lwm2mVersion;
  /** Binding without the legacy queue flag, e.g. 'U'. */
  readonly binding: string;
  readonly queueMode: boolean;
  readonly sms: string | undefined;
  /** The link-format body of the last Register/Update that carried one. */
  readonly links: string;
  /** Content formats announced with `ct` on the root link, if any. */
  readonly contentFormats: readonly number[] | undefined;
  /** Epoch ms. */
  readonly registeredAt: number;
  /** Epoch ms of the Register or the last Update. */
  readonly lastUpdateAt: number;
}

/** The object instances a registration announced (parsed from `links` on demand). */
export function registeredObjects(reg: Registration): RegistrationObjects {
  const parsed = parseLinkFormat(reg.links);
  return parsed.ok ? objectLinksFromRegistration(parsed.links) : { rootPath: '/', objects: [] };
}

/** Epoch ms after which the registration has expired. */
export function expiresAt(reg: Registration): number {
  return reg.lastUpdateAt + reg.lifetime * 1000;
}
