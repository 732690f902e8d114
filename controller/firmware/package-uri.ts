import { isSafeFileName } from './file-name.js';

/** Schemes otactl serves firmware over; coaps only to devices that came over DTLS (their key works there). */
export const SERVED_SCHEMES = ['https', 'http', 'coaps', 'coap'] as const;
export type ServedScheme = (typeof SERVED_SCHEMES)[number];

/** The preference when none is configured. */
export const DEFAULT_PREFERENCE: readonly ServedScheme[] = ['https', 'http', 'coap'];

/** LwM2M 5/0/8 Protocol Support codes (0 CoAP, 1 CoAPS, 2 HTTP, 3 HTTPS, 4 CoAP/TCP, 5 CoAP/TLS) we can serve. */
export const PROTOCOL_SUPPORT_CODE = { coap: 0, coaps: 1, http: 2, https: 3 } as const satisfies Record<
  ServedScheme,
  number
>;

/** A package URI is at most 255 bytes (object 5, resource 1). */
export const MAX_PACKAGE_URI_BYTES = 255;

const DEFAULT_PORT: Record<ServedScheme, number> = { https: 443, http: 80, coap: 5683, coaps: 5684 };
const PATH_PREFIX: Record<ServedScheme, string> = {
  https: '/binaries/',
  http: '/binaries/',
  coap: '/fw/',
  coaps: '/fw/',
};

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface ChoosePackageUriInput {
  readonly fileName: string;
  /** The device's 5/0/8 values; undefined or empty when it reported none. */
  readonly protocolSupport?: readonly number[];
  readonly served: Partial<Record<ServedScheme, Endpoint>>;
  /** Best first; default https, http, coap (DEFAULT_PREFERENCE). */
  readonly preference?: readonly ServedScheme[];
  /** Scheme for a device that reports no 5/0/8; default: the first preferred scheme that is served. */
  readonly defaultScheme?: ServedScheme;
  /** Write `/binaries/<file>` (or `/fw/<file>`) for firmware that has the host built in. */
  readonly relative?: boolean;
  /** Returns a query string (without `?`) to append, e.g. a signed-link token. */
  readonly signer?: (fileName: string) => string;
}

export type PackageUriReason = 'invalid-file-name' | 'nothing-served' | 'no-common-scheme' | 'uri-too-long';

export type PackageUriResult =
  | { readonly ok: true; readonly uri: string; readonly scheme: ServedScheme }
  | { readonly ok: false; readonly reason: PackageUriReason; readonly message: string };

function fail(reason: PackageUriReason, message: string): PackageUriResult {
  return { ok: false, reason, message };
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function pickScheme(input: ChoosePackageUriInput): PackageUriResult | ServedScheme {
  const preference = input.preference ?? DEFAULT_PREFERENCE;
  const served = preference.filter((scheme) => input.served[scheme] !== undefined);
  if (served.length === 0)
    return fail('nothing-served', 'no firmware server (https, http, coap, coaps) is configured');
  const support = input.protocolSupport ?? [];
  if (support.length === 0) {
    const fallback = input.defaultScheme ?? served[0]!;
    if (input.served[fallback] === undefined) {
      return fail('nothing-served', `the default scheme ${fallback} is not served`);
    }
    return fallback;
  }
  const chosen = served.find((scheme) => support.includes(PROTOCOL_SUPPORT_CODE[scheme]));
  if (chosen === undefined) {
    return fail(
      'no-common-scheme',
      `the device supports protocols [${support.join(', ')}] (5/0/8) but only ${served.join(', ')} are served`,
    );
  }
  return chosen;
}

/** The Package URI (5/0/1) for one device: never a scheme the device does not list in 5/0/8. */
export function choosePackageUri(input: ChoosePackageUriInput): PackageUriResult {
  if (!isSafeFileName(input.fileName))
    return fail('invalid-file-name', `unsafe file name "${input.fileName}"`);
  const scheme = pickScheme(input);
  if (typeof scheme !== 'string') return scheme;
  const path = PATH_PREFIX[scheme] + input.fileName;
  const query = input.signer ? `?${input.signer(input.fileName)}` : '';
  let uri = path + query;
  if (input.relative !== true) {
    const endpoint = input.served[scheme]!;
    const port = endpoint.port === DEFAULT_PORT[scheme] ? '' : `:${endpoint.port}`;
    uri = `${scheme}://${formatHost(endpoint.host)}${port}${uri}`;
  }
  const bytes = Buffer.byteLength(uri, 'utf8');
  if (bytes > MAX_PACKAGE_URI_BYTES) {
    return fail(
      'uri-too-long',
      `the package URI would be ${bytes} bytes, more than ${MAX_PACKAGE_URI_BYTES}`,
    );
  }
  return { ok: true, uri, scheme };
}
