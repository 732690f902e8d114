import type { DownloadHandle, DownloadRecorder } from '../download-stats.js';

interface Session {
  readonly handle: DownloadHandle;
  lastSeen: number;
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
}

export function createCoapProgressTracker(
  stats: DownloadRecorder,
  now: () => number,
  idleMs: number,
): CoapProgressTracker {
  const sessions = new Map<string, Session>();
  const prune = (at: number): void => {
    for (const [key, session] of sessions) {
      if (at - session.lastSeen > idleMs) {
        session.handle.finish(false);
        sessions.delete(key);
      }
    }
  };
  return {
    block({ client, device, file, size, offset, bytes, last }) {
      const at = now();
      prune(at);
      const key = `${client}\u0000${file}`;
      let session = sessions.get(key);
      if (session === undefined || offset === 0) {
        session?.handle.finish(false);
        const handle = stats.begin({
          protocol: 'coap',
          file,
          client,
          size,
          offset,
          ...(device === undefined ? {} : { device }),
        });
        session = { handle, lastSeen: at };
        sessions.set(key, session);
      }
      session.lastSeen = at;
      session.handle.sent(bytes);
      if (last) {
        session.handle.finish(true);
        sessions.delete(key);
      }
    },
  };
}
