import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely, Selectable } from 'kysely';
import { clientAddress } from '../firmware/client-address.js';
import { admitSlot } from '../firmware/fair-share.js';
import type { Logger } from '../log/create-logger.js';
import { loadCommits } from '../store/commits.js';
import type { Database, EventsTable } from '../store/schema.js';
import { latestEventId } from './read-model/events.js';
import { toEventView } from './read-model/to-view.js';
import type { CommitLookup } from './read-model/views.js';
import { sendError } from './respond.js';

export const DEFAULT_MAX_STREAMS = 32;
export const DEFAULT_MAX_STREAMS_PER_ADDRESS = 4;
export const DEFAULT_STREAM_QUEUE_BYTES = 1 << 20;
export const DEFAULT_STREAM_STALL_MS = 30_000;

/** Why a listener was closed by the server; each is counted in `otactl_event_stream_dropped_total`. */
export type StreamDropReason = 'queue-full' | 'stalled';

export interface EventStreamOptions {
  readonly db: Kysely<Database>;
  /** How often the events table is polled while someone listens. Default 1 s. */
  readonly pollMs?: number;
  /** Concurrent listeners; more are refused with 503. Default 32. */
  readonly maxSubscribers?: number;
  /**
   * Concurrent listeners from one client address; more are refused with 429. Beyond its first, an
   * address gets one only while a quarter of `maxSubscribers` stay free. Default 4.
   */
  readonly maxSubscribersPerAddress?: number;
  /**
   * Bytes written to one listener and not yet taken by its socket. Writing stops at the socket's
   * high-water mark and the backlog waits in the database, so only a single oversized event can
   * pass this; the listener is then closed. Default 1 MiB.
   */
  readonly maxQueuedBytes?: number;
  /** A listener whose socket takes nothing for this long while data waits is closed. Default 30 s. */
  readonly stallMs?: number;
  /** Events read per query, for the live poll and for each listener catching up. Default 500. */
  readonly pageSize?: number;
  /** A comment line this often keeps proxies and idle timeouts from closing the stream. Default 15 s. */
  readonly heartbeatMs?: number;
  readonly logger?: Logger;
  readonly onDrop?: (reason: StreamDropReason) => void;
}

export interface StreamFilter {
  /** Start after this event id; default: the newest one (only new events). */
  readonly since?: number;
  readonly rollout?: string;
  readonly endpoint?: string;
}

export interface EventStream {
  subscribe(req: IncomingMessage, res: ServerResponse, filter: StreamFilter): void;
  readonly subscribers: number;
  close(): void;
}

type EventRow = Selectable<EventsTable>;

/**
 * live: caught up, fed by the shared poller; paging: reading its own backlog from the database;
 * blocked: its socket is full, nothing is written until 'drain'; gone: closed.
 */
type Mode = 'live' | 'paging' | 'blocked' | 'gone';

interface Subscriber {
  readonly res: ServerResponse;
  readonly address: string;
  readonly rollout: string | undefined;
  readonly endpoint: string | undefined;
  /** Every event up to this id was written or filtered out. */
  cursor: number;
  mode: Mode;
  stallTimer?: NodeJS.Timeout;
  /**
   * Rows to read for its next page: the page size while its socket keeps up, about twice what its
   * socket last took once it blocked, so a slow reader does not re-read a whole page per 'drain'.
   */
  readLimit: number;
}

/** The fewest rows a blocked listener reads at a time. */
const MIN_READ_LIMIT = 16;

const DROP_GRACE_MS = 1_000;

/**
 * Server-sent events of new rows of `events`, with backpressure. Listeners that keep up share
 * one poller (the table is read once per tick, from where the poller stopped). A listener that
 * starts behind, or whose socket fills, reads its backlog page by page from the database and
 * writes the next page only after 'drain', so a slow reader costs one socket buffer, never the
 * backlog in memory. Listeners that take nothing for `stallMs` are closed; they resume with
 * Last-Event-ID.
 */
export function createEventStream(options: EventStreamOptions): EventStream {
  const { db } = options;
  const pollMs = options.pollMs ?? 1_000;
  const maxSubscribers = options.maxSubscribers ?? DEFAULT_MAX_STREAMS;
  const perAddress = options.maxSubscribersPerAddress ?? DEFAULT_MAX_STREAMS_PER_ADDRESS;
  // Every address gets one stream while any is free; more only while a quarter stay free.
  const slots = { max: maxSubscribers, share: 1, cap: perAddress, reserve: Math.floor(maxSubscribers / 4) };
  const maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_STREAM_QUEUE_BYTES;
  const stallMs = options.stallMs ?? DEFAULT_STREAM_STALL_MS;
  const pageSize = options.pageSize ?? 500;
  const heartbeatEvery = Math.max(1, Math.round((options.heartbeatMs ?? 15_000) / pollMs));
  const subscribers = new Set<Subscriber>();
  /** Listeners accepted (counted against both bounds) per address, including those still starting. */
  const byAddress = new Map<string, number>();
  let accepted = 0;
  /** Every event up to this id has been handed to the live listeners; undefined while nobody listens. */
  let head: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  let ticks = 0;
  let closed = false;

  const write = (subscriber: Subscriber, text: string): boolean => {
    const more = subscriber.res.write(text);
    if (subscriber.res.writableLength > maxQueuedBytes) drop(subscriber, 'queue-full');
    return more;
  };

  const drop = (subscriber: Subscriber, reason: StreamDropReason): void => {
    if (subscriber.mode === 'gone') return;
    leave(subscriber);
    options.onDrop?.(reason);
    const why =
      reason === 'stalled'
        ? `took nothing for ${stallMs} ms`
        : `more than ${maxQueuedBytes} bytes waited for the client`;
    const { res } = subscriber;
    res.end(
      `event: dropped\ndata: ${JSON.stringify({ reason, message: `${why}; reconnect with Last-Event-ID to resume` })}\n\n`,
    );
    // The farewell reaches a client that reads again; one that does not is cut off.
    const cut = setTimeout(() => res.destroy(), DROP_GRACE_MS);
    cut.unref();
    res.once('close', () => clearTimeout(cut));
  };

  const leave = (subscriber: Subscriber): void => {
    if (subscriber.mode === 'gone') return;
    subscriber.mode = 'gone';
    clearTimeout(subscriber.stallTimer);
    subscribers.delete(subscriber);
    release(subscriber.address);
  };

  const release = (address: string): void => {
    accepted--;
    const left = (byAddress.get(address) ?? 1) - 1;
    if (left <= 0) byAddress.delete(address);
    else byAddress.set(address, left);
    if (accepted === 0) {
      clearInterval(timer);
      timer = undefined;
      head = undefined;
    }
  };

  /** Writes `rows` (ascending) to one listener; stops at a full socket and waits for 'drain'. */
  const deliver = (
    subscriber: Subscriber,
    rows: readonly EventRow[],
    commits: CommitLookup,
    upTo: number,
  ): number => {
    let written = 0;
    for (const row of rows) {
      const id = Number(row.id);
      if (id <= subscriber.cursor) continue;
      if (
        (subscriber.rollout === undefined || row.rollout === subscriber.rollout) &&
        (subscriber.endpoint === undefined || row.endpoint === subscriber.endpoint)
      ) {
        const more = write(
          subscriber,
          `id: ${id}\nevent: event\ndata: ${JSON.stringify(toEventView(row, commits))}\n\n`,
        );
        subscriber.cursor = id;
        written++;
        if (subscriber.mode === 'gone') return written;
        if (!more) {
          block(subscriber, written);
          return written;
        }
      }
      subscriber.cursor = id;
    }
    subscriber.cursor = Math.max(subscriber.cursor, upTo);
    subscriber.readLimit = Math.min(pageSize, subscriber.readLimit * 2);
    return written;
  };

  const block = (subscriber: Subscriber, written: number): void => {
    subscriber.mode = 'blocked';
    subscriber.readLimit = Math.min(pageSize, Math.max(MIN_READ_LIMIT, 2 * written));
    subscriber.stallTimer = setTimeout(() => drop(subscriber, 'stalled'), stallMs);
    subscriber.res.once('drain', () => {
      if (subscriber.mode !== 'blocked') return;
      clearTimeout(subscriber.stallTimer);
      subscriber.mode = 'paging';
      catchUp(subscriber);
    });
  };

  /** The commits a page of events names (no query when it names none). */
  const commitsOf = (rows: readonly EventRow[]): Promise<CommitLookup> =>
    loadCommits(
      db,
      rows.map((r) => r.git_revision),
    );

  const readPage = (subscriber: Subscriber, until: number, limit: number): Promise<EventRow[]> => {
    let select = db
      .selectFrom('events')
      .selectAll()
      .where('id', '>', subscriber.cursor)
      .where('id', '<=', until);
    if (subscriber.rollout !== undefined) select = select.where('rollout', '=', subscriber.rollout);
    if (subscriber.endpoint !== undefined) select = select.where('endpoint', '=', subscriber.endpoint);
    return select.orderBy('id').limit(limit).execute();
  };

  /** Pages a listener's backlog up to the poller's position, then hands it to the poller. */
  const catchUp = (subscriber: Subscriber): void => {
    const step = async (): Promise<void> => {
      while (subscriber.mode === 'paging' && head !== undefined) {
        const until = head;
        if (subscriber.cursor >= until) {
          subscriber.mode = 'live';
          return;
        }
        const limit = subscriber.readLimit;
        const rows = await readPage(subscriber, until, limit);
        const commits = await commitsOf(rows);
        if (subscriber.mode !== 'paging') return;
        deliver(subscriber, rows, commits, rows.length < limit ? until : Number(rows[rows.length - 1]?.id));
      }
    };
    step().catch((error: unknown) => {
      options.logger?.warn({ err: error }, 'event stream: reading the backlog failed; retrying');
      setTimeout(() => catchUp(subscriber), pollMs).unref();
    });
  };

  const poll = async (): Promise<void> => {
    if (polling || head === undefined) return;
    polling = true;
    try {
      const rows = await db
        .selectFrom('events')
        .selectAll()
        .where('id', '>', head)
        .orderBy('id')
        .limit(pageSize)
        .execute();
      const commits = await commitsOf(rows);
      if (head === undefined) return;
      const upTo = Math.max(head, Number(rows[rows.length - 1]?.id ?? head));
      const heartbeat = ++ticks % heartbeatEvery === 0;
      for (const subscriber of subscribers) {
        if (subscriber.mode === 'live') deliver(subscriber, rows, commits, upTo);
        if (heartbeat && (subscriber.mode === 'live' || subscriber.mode === 'paging'))
          write(subscriber, ': keep-alive\n\n');
      }
      head = upTo;
    } catch (error) {
      options.logger?.warn({ err: error }, 'event stream: reading events failed');
    } finally {
      polling = false;
    }
  };

  const subscribe = (req: IncomingMessage, res: ServerResponse, filter: StreamFilter): void => {
    const address = clientAddress(req.socket.remoteAddress);
    const fromAddress = byAddress.get(address) ?? 0;
    const refusal = closed ? 'server-full' : admitSlot(slots, accepted, fromAddress);
    if (refusal === 'server-full') {
      sendError(req, res, 503, `too many event stream listeners (at most ${maxSubscribers})`, {
        'Retry-After': '10',
      });
      return;
    }
    if (refusal === 'address-full') {
      const bound =
        fromAddress >= perAddress
          ? `at most ${perAddress} per address`
          : 'the last slots are kept for other addresses';
      sendError(
        req,
        res,
        429,
        `too many event stream listeners from ${address} (${bound}); close one first`,
        {
          'Retry-After': '10',
        },
      );
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    accepted++;
    byAddress.set(address, fromAddress + 1);
    res.write('retry: 2000\n\n');
    // A reconnecting EventSource sends the last id it saw: that, not the URL's since, is where to resume.
    const lastEventId = Number(req.headers['last-event-id'] || Number.NaN);
    const resumeAt = Number.isSafeInteger(lastEventId) && lastEventId >= 0 ? lastEventId : filter.since;
    const subscriber: Subscriber = {
      res,
      address,
      rollout: filter.rollout,
      endpoint: filter.endpoint,
      cursor: resumeAt ?? 0,
      mode: 'paging',
      readLimit: pageSize,
    };
    let started = false;
    const end = () => {
      if (started) leave(subscriber);
      else if (subscriber.mode !== 'gone') {
        subscriber.mode = 'gone';
        release(address);
      }
      // With half-open sockets allowed, a client that went away only ends its side: end ours.
      if (!res.writableEnded) res.end();
    };
    res.once('close', end);
    req.socket.once('end', end);
    const start = async (): Promise<void> => {
      const latest = await latestEventId(db);
      if (subscriber.mode === 'gone' || closed) return;
      started = true;
      head ??= latest;
      if (resumeAt === undefined) subscriber.cursor = latest;
      subscribers.add(subscriber);
      // The stream is open and its cursor fixed: tell the client, so it can rely on seeing what follows.
      res.write(`event: ready\ndata: ${JSON.stringify({ lastId: subscriber.cursor })}\n\n`);
      timer ??= setInterval(() => void poll(), pollMs);
      catchUp(subscriber);
    };
    start().catch((error: unknown) => {
      options.logger?.warn({ err: error }, 'event stream: could not start');
      res.end();
    });
  };

  return {
    subscribe,
    get subscribers() {
      return subscribers.size;
    },
    close() {
      closed = true;
      clearInterval(timer);
      timer = undefined;
      for (const subscriber of [...subscribers]) {
        leave(subscriber);
        subscriber.res.end();
      }
    },
  };
}
