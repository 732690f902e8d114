import type { CredentialDirectory } from '../../credentials/index.js';
import type { RegisterRefusal, RegistrationRequest } from './registration-handler.js';

/**
 * Whether the sender of a Register may register as `endpoint` (issue 19: identity is the authority).
 * Over DTLS only an identity whose credential names the endpoint may; over plain CoAP only an
 * endpoint without credentials. Without a directory nobody has credentials (plain CoAP only).
 * Undefined: allowed. Over DTLS a directory failure rejects (the device tries again). Over plain
 * CoAP it does not stop registrations (a slow or absent database never does): the endpoint is
 * refused only if its current registration came over DTLS, and `onLookupFailure` hears of it.
 */
export async function authoriseRegister(
  credentials: CredentialDirectory | undefined,
  req: Pick<RegistrationRequest, 'security' | 'peer'>,
  endpoint: string,
  fallback: {
    readonly registeredSecurely: (endpoint: string) => boolean;
    readonly onLookupFailure: (err: unknown) => void;
  },
): Promise<RegisterRefusal | undefined> {
  if (req.security === 'psk') {
    const identity = req.peer.identity;
    const credential = identity === undefined ? undefined : await credentials?.byIdentity(identity);
    return credential?.endpoint === endpoint ? undefined : 'identity-of-another-endpoint';
  }
  if (credentials === undefined) return undefined;
  let required: boolean;
  try {
    required = await credentials.hasCredentials(endpoint);
  } catch (err) {
    fallback.onLookupFailure(err);
    required = fallback.registeredSecurely(endpoint);
  }
  return required ? 'credentials-required' : undefined;
}
