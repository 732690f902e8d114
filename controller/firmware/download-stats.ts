export const DOWNLOAD_PROTOCOLS = ['http', 'https', 'coap'] as const;
export type DownloadProtocol = (typeof DOWNLOAD_PROTOCOLS)[number];

export interface DownloadProgress {
  readonly id: number;
  readonly protocol: DownloadProtocol;
  readonly file: string;
  /** Client address (IPv4-mapped IPv6 addresses normalised to IPv4). */
  readonly client: string;
  /** Device endpoint, when a signed link named it. */
  readonly device?: string;
  readonly bytesSent: number;
  readonly size: number;
  readonly startedAt: number;
}

/** A download request waiting for a slot of its client address (see `--max-downloads-per-client`). */
export interface DownloadWait {
  readonly id: number;
  readonly protocol: DownloadProtocol;
  readonly file: string;
  readonly client: string;
  readonly device?: string;
  readonly since: number;
}

export type DownloadEvent =
  | { readonly kind: 'started'; readonly download: DownloadProgress }
  | { readonly kind: 'finished'; readonly download: DownloadProgress; readonly complete: boolean }
  | { readonly kind: 'queued'; readonly wait: DownloadWait }
  /** The wait ended: the request got its slot or went away. */
  | { readonly kind: 'dequeued'; readonly wait: DownloadWait };

/** Totals of waits that ended (admitted or abandoned), for a mean wait. */
export interface WaitTotals {
  readonly count: number;
  readonly seconds: number;
}

/** Read side, for metrics and status. */
export interface DownloadStats {
  bytesByFile(): ReadonlyMap<string, number>;
  bytesByDevice(): ReadonlyMap<string, number>;
  inProgress(): readonly DownloadProgress[];
  /** Requests queued behind their address's concurrent downloads, oldest first. */
  waiting(): readonly DownloadWait[];
  waitTotals(): WaitTotals;
  /** Calls `listener` on every start and end of a download or a wait; returns the unsubscribe function. */
  subscribe(listener: (event: DownloadEvent) => void): () => void;
}

export interface DownloadHandle {
  sent(bytes: number): void;
  /** Idempotent. */
  finish(complete: boolean): void;
}

export interface DownloadStart {
  readonly protocol: DownloadProtocol;
  readonly file: string;
  readonly client: string;
  readonly device?: string;
  readonly size: number;
  /** Bytes already delivered before this transfer (a resumed range, a later CoAP block). */
  readonly offset?: number;
}

export interface WaitHandle {
  /** Idempotent. */
  end(): void;
}

/** Write side, used by the file servers. */
export interface DownloadRecorder extends DownloadStats {
  begin(start: DownloadStart): DownloadHandle;
  /** A request starts waiting for a slot; `end` when it got one or went away. */
  beginWait(wait: Omit<DownloadWait, 'id' | 'since'>): WaitHandle;
  /** Counts bytes that belong to no tracked transfer. */
  count(file: string, device: string | undefined, bytes: number): void;
}

function add(map: Map<string, number>, key: string, bytes: number): void {
  map.set(key, (map.get(key) ?? 0) + bytes);
}

export function createDownloadStats(now: () => number = Date.now): DownloadRecorder {
  const byFile = new Map<string, number>();
  const byDevice = new Map<string, number>();
  const active = new Map<number, DownloadProgress>();
  const listeners = new Set<(event: DownloadEvent) => void>();
  const waits = new Map<number, DownloadWait>();
  let waitCount = 0;
  let waitSeconds = 0;
  let nextId = 1;

  const emit = (event: DownloadEvent): void => {
    for (const listener of listeners) listener(event);
  };
  // Bytes are counted per file and per device (named by a signed link), never per client address:
  // spoofed CoAP sources would grow such a map without end.
  const count = (file: string, device: string | undefined, bytes: number): void => {
    add(byFile, file, bytes);
    if (device !== undefined) add(byDevice, device, bytes);
  };

  return {
    bytesByFile: () => byFile,
    bytesByDevice: () => byDevice,
    inProgress: () => [...active.values()],
    waiting: () => [...waits.values()],
    waitTotals: () => ({ count: waitCount, seconds: waitSeconds }),
    beginWait(wait) {
      const id = nextId++;
      const since = now();
      const entry: DownloadWait = { id, since, ...wait };
      waits.set(id, entry);
      emit({ kind: 'queued', wait: entry });
      return {
        end() {
          if (!waits.delete(id)) return;
          waitCount++;
          waitSeconds += Math.max(0, now() - since) / 1000;
          emit({ kind: 'dequeued', wait: entry });
        },
      };
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    count,
    begin(start) {
      const id = nextId++;
      const base = {
        id,
        protocol: start.protocol,
        file: start.file,
        client: start.client,
        size: start.size,
        startedAt: now(),
        ...(start.device === undefined ? {} : { device: start.device }),
      };
      let bytesSent = start.offset ?? 0;
      let done = false;
      active.set(id, { ...base, bytesSent });
      emit({ kind: 'started', download: { ...base, bytesSent } });
      return {
        sent(bytes) {
          if (done) return;
          bytesSent += bytes;
          count(start.file, start.device, bytes);
          active.set(id, { ...base, bytesSent });
        },
        finish(complete) {
          if (done) return;
          done = true;
          active.delete(id);
          emit({ kind: 'finished', download: { ...base, bytesSent }, complete });
        },
      };
    },
  };
}
