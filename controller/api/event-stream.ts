import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type { Logger } from '../log/create-logger.js';
import type { Database } from '../store/schema.js';
import { latestEventId } from './read-model/events.js';
import { toEventView } from './read-model/to-view.js';
import { sendError } from './respond.js';

export interface EventStreamOptions {
  readonly db: Kysely<Database>;
  /** How often the events table is polled while someone listens. Default 1 s. */
  readonly pollMs?: number;
  /** Concurrent listeners; more are refused with 503. Default 32. */
  readonly maxSubscribers?: number;
  /** A comment line this often keeps proxies and idle timeouts from closing the stream. Default 15 s. */
  readonly heartbeatMs?: number;
  readonly logger?: Logger;
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

interface Subscriber {
  readonly res: ServerResponse;
  readonly rollout: string | undefined;
  readonly endpoint: string | undefined;
  cursor: number;
}

const BATCH = 500;

/**
 * Server-sent events of new rows of `events`. One poller serves every listener (the table
 * is read once per tick, from the oldest cursor), and it runs only while someone listens.
 */
export function createEventStream(options: EventStreamOptions): EventStream {
  const pollMs = options.pollMs ?? 1_000;
  const maxSubscribers = options.maxSubscribers ?? 32;
  const heartbeatEvery = Math.max(1, Math.round((options.heartbeatMs ?? 15_000) / pollMs));
  const subscribers = new Set<Subscriber>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  let ticks = 0;
  let closed = false;
  /** Listeners accepted whose cursor is still being read: they count against the bound too. */
  let starting = 0;

  const stop = (): void => {
    clearInterval(timer);
    timer = undefined;
  };

  const poll = async (): Promise<void> => {
    if (polling || subscribers.size === 0) return;
    polling = true;
    try {
      const from = Math.min(...[...subscribers].map((s) => s.cursor));
      const rows = await options.db
        .selectFrom('events')
        .selectAll()
        .where('id', '>', from)
        .orderBy('id')
        .limit(BATCH)
        .execute();
      const heartbeat = ++ticks % heartbeatEvery === 0;
      for (const subscriber of subscribers) {
        for (const row of rows) {
          const id = Number(row.id);
          if (id <= subscriber.cursor) continue;
          subscriber.cursor = id;
          if (subscriber.rollout !== undefined && row.rollout !== subscriber.rollout) continue;
          if (subscriber.endpoint !== undefined && row.endpoint !== subscriber.endpoint) continue;
          subscriber.res.write(`id: ${id}\nevent: event\ndata: ${JSON.stringify(toEventView(row))}\n\n`);
        }
        if (heartbeat) subscriber.res.write(': keep-alive\n\n');
      }
    } catch (error) {
      options.logger?.warn({ err: error }, 'event stream: reading events failed');
    } finally {
      polling = false;
    }
  };

  const subscribe = (req: IncomingMessage, res: ServerResponse, filter: StreamFilter): void => {
    if (closed || subscribers.size + starting >= maxSubscribers) {
      sendError(req, res, 503, `too many event stream listeners (at most ${maxSubscribers})`, {
        'Retry-After': '10',
      });
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
    res.write('retry: 2000\n\n');
    const lastEventId = Number(req.headers['last-event-id']);
    const since =
      filter.since ?? (Number.isSafeInteger(lastEventId) && lastEventId >= 0 ? lastEventId : undefined);
    const subscriber: Subscriber = {
      res,
      rollout: filter.rollout,
      endpoint: filter.endpoint,
      cursor: since ?? 0,
    };
    let gone = false;
    const leave = () => {
      if (gone) return;
      gone = true;
      subscribers.delete(subscriber);
      if (subscribers.size === 0) stop();
      // With half-open sockets allowed, a client that went away only ends its side: end ours.
      if (!res.writableEnded) res.end();
    };
    res.once('close', leave);
    req.socket.once('end', leave);
    const start = async (): Promise<void> => {
      starting++;
      try {
        if (since === undefined) subscriber.cursor = await latestEventId(options.db);
      } finally {
        starting--;
      }
      if (gone || closed) return;
      subscribers.add(subscriber);
      // The stream is open and its cursor fixed: tell the client, so it can rely on seeing what follows.
      res.write(`event: ready\ndata: ${JSON.stringify({ lastId: subscriber.cursor })}\n\n`);
      timer ??= setInterval(() => void poll(), pollMs);
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
      stop();
      for (const subscriber of subscribers) subscriber.res.end();
      subscribers.clear();
    },
  };
}
