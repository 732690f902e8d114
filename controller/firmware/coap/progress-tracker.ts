import type { DownloadHandle, DownloadRecorder } from '../download-stats.js';

/**
 * CoAP downloads tracked at once; past it the least recently active one is dropped as incomplete
 * (only the statistics forget it: the device's next block starts a new one at its offset). Genuine
 * ones number about the updates in flight (a rollout's `maxInFlight`, 100 by default), so this leaves
 * room for a fifth of a 100,000-device fleet downloading at the same time. Spoofed sources, one
 * session each, can fill it: then it holds about 20 MB (measured) and `/api/downloads` lists 3 MB.
 */
export const MAX_TRACKED_COAP_DOWNLOADS = 20_000;

interface Session {
  readonly key: string;
  readonly handle: DownloadHandle;
  lastSeen: number;
  /** Neighbours in the order of last activity. */
  older: Session | undefined;
  newer: Session | undefined;
}

/**
 * CoAP downloads are a series of independent block requests (possibly with a new token each), so a
 * "download" is tracked per client and file: block 0 starts one, the last block ends it, and one idle
 * longer than `idleMs` is dropped as incomplete.
 */
export interface CoapProgressTracker {
  block(input: {
    client: string;
    device: string | undefined;
    file: string;
    size: number;
    offset: number;
    bytes: number;
    last: boolean;
  }): void;
  /** Downloads tracked now. */
  readonly sessions: number;
  /** Sessions looked at for idleness so far: a block looks at those it drops and at most one more. */
  readonly examined: number;
}

/**
 * Every block costs O(1) however many downloads are tracked: the sessions form a list in the order
 * of their last block (a block moves its own to the newest end), so the idle ones are the oldest and
 * pruning stops at the first that is not. A linked list rather than a Map's insertion order: V8
 * leaves a deleted Map entry as a hole that `keys().next()` steps over until the table is rebuilt.
 */
export function createCoapProgressTracker(
  stats: DownloadRecorder,
  now: () => number,
  idleMs: number,
  maxSessions = MAX_TRACKED_COAP_DOWNLOADS,
): CoapProgressTracker {
  const sessions = new Map<string, Session>();
  let oldest: Session | undefined;
  let newest: Session | undefined;
  let examined = 0;

  const unlink = (session: Session): void => {
    if (session.older === undefined) oldest = session.newer;
    else session.older.newer = session.newer;
    if (session.newer === undefined) newest = session.older;
    else session.newer.older = session.older;
    session.older = undefined;
    session.newer = undefined;
  };
  const append = (session: Session): void => {
    session.older = newest;
    if (newest === undefined) oldest = session;
    else newest.newer = session;
    newest = session;
  };
  const end = (session: Session, complete: boolean): void => {
    session.handle.finish(complete);
    sessions.delete(session.key);
    unlink(session);
  };
  const prune = (at: number): void => {
    while (oldest !== undefined) {
      examined++;
      if (at - oldest.lastSeen <= idleMs) return;
      end(oldest, false);
    }
  };

  return {
    get sessions() {
      return sessions.size;
    },
    get examined() {
      return examined;
    },
    block({ client, device, file, size, offset, bytes, last }) {
      const at = now();
      prune(at);
      const key = `${client}\u0000${file}`;
      let session = sessions.get(key);
      if (session !== undefined && offset === 0) {
        end(session, false);
        session = undefined;
      }
      if (session === undefined) {
        const handle = stats.begin({
          protocol: 'coap',
          file,
          client,
          size,
          offset,
          ...(device === undefined ? {} : { device }),
        });
        session = { key, handle, lastSeen: at, older: undefined, newer: undefined };
        sessions.set(key, session);
        append(session);
        if (sessions.size > maxSessions && oldest !== undefined) end(oldest, false);
      } else {
        unlink(session);
        append(session);
      }
      session.lastSeen = at;
      session.handle.sent(bytes);
      if (last) end(session, true);
    },
  };
}
