import type { CredentialDirectory } from '../../credentials/index.js';
import type { RegisterRefusal, RegistrationRequest } from './registration-handler.js';

/**
 * Whether the sender of a Register may register as `endpoint` (issue 19: identity is the authority).
 * Over DTLS only an identity whose credential names the endpoint may; over plain CoAP only an
 * endpoint without credentials. Without a directory nobody has credentials (plain CoAP only).
 * Undefined: allowed; a directory failure rejects (the device tries again).
 */
export async function authoriseRegister(
  credentials: CredentialDirectory | undefined,
  req: Pick<RegistrationRequest, 'security' | 'peer'>,
  endpoint: string,
): Promise<RegisterRefusal | undefined> {
  if (req.security === 'psk') {
    const identity = req.peer.identity;
    const credential = identity === undefined ? undefined : await credentials?.byIdentity(identity);
    return credential?.endpoint === endpoint ? undefined : 'identity-of-another-endpoint';
  }
  if (credentials !== undefined && (await credentials.hasCredentials(endpoint)))
    return 'credentials-required';
  return undefined;
}
