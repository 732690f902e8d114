import type { CredentialDirectory, PskCredential } from './credential-directory.js';

/** A directory over a fixed list, for the simulator, the bench and tests of the layers above. */
export class StaticCredentialDirectory implements CredentialDirectory {
  readonly #byIdentity = new Map<string, PskCredential>();
  readonly #endpoints = new Set<string>();

  constructor(credentials: Iterable<PskCredential>) {
    for (const credential of credentials) {
      this.#byIdentity.set(credential.identity, credential);
      this.#endpoints.add(credential.endpoint);
    }
  }

  async byIdentity(identity: string): Promise<PskCredential | undefined> {
    return this.#byIdentity.get(identity);
  }

  async hasCredentials(endpoint: string): Promise<boolean> {
    return this.#endpoints.has(endpoint);
  }
}
