import type { Kysely } from 'kysely';
import { openSigningKeys, type SigningKeys } from '../firmware/index.js';
import type { Logger } from '../log/index.js';
import type { Database } from '../store/index.js';
import { ResourcePart } from './resource-part.js';

export interface SigningKeysPartOptions {
  readonly db: Kysely<Database>;
  readonly ttlSeconds: number;
  readonly clock: () => number;
  readonly log: Logger;
}

/**
 * The keys signing download links. Kept in the database: links outlive a restart and verify on
 * every replica; re-read periodically until stopped.
 */
export function signingKeysPart(options: SigningKeysPartOptions): ResourcePart<SigningKeys> {
  return new ResourcePart(
    'link signing keys',
    () =>
      openSigningKeys({
        db: options.db,
        ttlSeconds: options.ttlSeconds,
        now: options.clock,
        onError: (error) =>
          options.log.error({ err: error }, 'reading the link signing keys failed; keeping the ones read'),
      }),
    (keys) => keys.close(),
  );
}
