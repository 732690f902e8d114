import {
  choosePackageUri,
  DEFAULT_PREFERENCE,
  type Endpoint,
  PROTOCOL_SUPPORT_CODE,
  type ServedScheme,
} from './package-uri.js';

/** How this controller hands out Package URIs (5/0/1): what it serves and how links look. */
export interface PackageUriPolicy {
  /** Where each served scheme is reached by devices. */
  readonly served: Partial<Record<ServedScheme, Endpoint>>;
  /** Best first; default https, http, coap. */
  readonly preference?: readonly ServedScheme[];
  /** Write `/binaries/<file>` instead of an absolute URI (firmware with the host built in). */
  readonly relative?: boolean;
  /** Signs links for one device (returns the query for a file); absent when links are not signed. */
  readonly signerFor?: (endpoint: string) => (fileName: string) => string;
}

/** The device an update is for and the firmware it is to get. */
export interface PackageUriRequest {
  readonly endpoint: string;
  /** The Firmware manifest's name. */
  readonly firmware: string;
  /** That firmware's file as declared now; undefined when it is no longer declared. */
  readonly file: string | undefined;
  /** The device's 5/0/8 values, when it reported them. */
  readonly protocolSupport?: readonly number[] | null;
  /** How the device is registered now: only a device that came over DTLS can download over coaps. */
  readonly security?: 'none' | 'psk';
}

/**
 * A URI, or why there is none. `permanent`: asking again cannot help (the device and this
 * controller share no scheme, the URI would be too long); otherwise a later manifest may fix it.
 */
export type PackageUriDecision =
  | { readonly ok: true; readonly uri: string }
  | { readonly ok: false; readonly reason: string; readonly permanent: boolean };

/** Which Package URI a device gets for an update's firmware. */
export function packageUriFor(policy: PackageUriPolicy, request: PackageUriRequest): PackageUriDecision {
  if (request.file === undefined) {
    return { ok: false, reason: `firmware ${request.firmware} is no longer declared`, permanent: false };
  }
  const choice = choosePackageUri({
    fileName: request.file,
    ...(request.protocolSupport ? { protocolSupport: request.protocolSupport } : {}),
    ...schemesFor(policy, request),
    ...(policy.relative ? { relative: true } : {}),
    ...(policy.signerFor ? { signer: policy.signerFor(request.endpoint) } : {}),
  });
  return choice.ok ? { ok: true, uri: choice.uri } : { ok: false, reason: choice.message, permanent: true };
}

/**
 * What a device may be sent to: coaps only for a device registered over DTLS (it has a key for this
 * server), and then first, when it lists CoAPS in 5/0/8: the channel it already authenticated on.
 */
function schemesFor(
  policy: PackageUriPolicy,
  request: PackageUriRequest,
): { served: PackageUriPolicy['served']; preference: readonly ServedScheme[] } {
  const preference = (policy.preference ?? DEFAULT_PREFERENCE).filter((s) => s !== 'coaps');
  const { coaps, ...plain } = policy.served;
  const listsCoaps = request.protocolSupport?.includes(PROTOCOL_SUPPORT_CODE.coaps) === true;
  if (coaps === undefined || request.security !== 'psk' || !listsCoaps) return { served: plain, preference };
  return { served: policy.served, preference: ['coaps', ...preference] };
}
