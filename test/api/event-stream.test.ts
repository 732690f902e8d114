import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import {
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryId,
  type QueryResult,
  type RootOperationNode,
  SelectQueryNode,
  type UnknownRow,
} from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventStream,
  type EventStream,
  type StreamDropReason,
} from '../../controller/api/event-stream.js';
import { createHttpApp } from '../../controller/api/http-app.js';
import { type RunningHttpServer, startHttpServer } from '../../controller/api/http-server.js';
import { latestEventId } from '../../controller/api/read-model/events.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import { insertEvent, insertEvents } from './fixtures.js';
import { httpRequest } from './http-client.js';
import { openSse } from './sse-client.js';

/** The ids of the complete `event` messages in raw text/event-stream bytes. */
function eventIds(text: string): number[] {
  const ids: number[] = [];
  for (const block of text.split('\n\n').slice(0, -1)) {
    const id = /^id: (\d+)$/m.exec(block);
    if (id && /^event: event$/m.test(block)) ids.push(Number(id[1]));
  }
  return ids;
}

/** Counts the rows that selects from `events` return through the instance it is added to. */
function countEventRows(count: { events: number }): KyselyPlugin {
  const fromEvents = new WeakSet<QueryId>();
  return {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      const node = args.node;
      if (SelectQueryNode.is(node) && JSON.stringify(node.from).includes('"name":"events"')) {
        fromEvents.add(args.queryId);
      }
      return node;
    },
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      if (fromEvents.has(args.queryId)) count.events += args.result.rows.length;
      return args.result;
    },
  };
}

describe.each(testBackends)('event stream backpressure on $name', (backend) => {
  // One database for the file (opening one is the slow part); each test reads only events it adds.
  let store: OpenDatabase;
  let api: RunningHttpServer | undefined;
  let raw: { server: Server; stream: EventStream } | undefined;
  const closers: Array<() => void> = [];

  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await api?.close();
    api = undefined;
    if (raw) {
      raw.stream.close();
      raw.server.closeAllConnections();
      await new Promise((done) => raw?.server.close(done));
      raw = undefined;
    }
  });

  beforeAll(async () => {
    store = await backend.open();
  }, 180_000);
  afterAll(() => store?.close());

  async function startApi(options: { maxStreamSubscribersPerAddress?: number } = {}): Promise<number> {
    const app = createHttpApp({ db: store.db, eventPollMs: 20, ...options });
    api = await startHttpServer({ port: 0, host: '127.0.0.1', app });
    return api.port;
  }

  it('pages a backlog larger than a page to a reader that keeps up, in order, then goes live', async () => {
    const port = await startApi();
    const before = await latestEventId(store.db);
    const backlog = await insertEvents(store.db, 1_234);
    const stream = await openSse(port, `/api/v1/events/stream?since=${before}`);
    closers.push(() => stream.close());
    await stream.next((m) => m.event === 'event' && Number(m.id) === backlog.at(-1));
    const live = await insertEvent(store.db, { endpoint: 'dev-live' });
    await stream.next((m) => m.event === 'event' && Number(m.id) === live);
    const ids = stream.received.filter((m) => m.event === 'event').map((m) => Number(m.id));
    expect(ids).toEqual([...backlog, live]);
  });

  it('resumes after Last-Event-ID, which a reconnecting EventSource sends with its original URL', async () => {
    const port = await startApi();
    const before = await latestEventId(store.db);
    const ids = await insertEvents(store.db, 30);
    const resumeAfter = ids[19] as number;
    const stream = await openSse(port, `/api/v1/events/stream?since=${before}`, {
      headers: { 'Last-Event-ID': String(resumeAfter) },
    });
    closers.push(() => stream.close());
    const ready = await stream.next((m) => m.event === 'ready');
    expect(JSON.parse(ready.data)).toEqual({ lastId: resumeAfter });
    await stream.next((m) => Number(m.id) === ids.at(-1));
    expect(stream.received.filter((m) => m.event === 'event').map((m) => Number(m.id))).toEqual(
      ids.slice(20),
    );
  });

  it('caps the streams one address holds (429) so others still get theirs', async () => {
    const port = await startApi({ maxStreamSubscribersPerAddress: 2 });
    const held = [await openSse(port, '/api/v1/events/stream'), await openSse(port, '/api/v1/events/stream')];
    for (const s of held) closers.push(() => s.close());
    await Promise.all(held.map((s) => s.next((m) => m.event === 'ready')));

    const third = await httpRequest(port, '/api/v1/events/stream');
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('10');
    expect(JSON.parse(third.body).error).toMatch(/from 127\.0\.0\.1 \(at most 2 per address\)/);

    const dashboard = await openSse(port, '/api/v1/events/stream', { localAddress: '127.0.0.2' });
    closers.push(() => dashboard.close());
    expect(dashboard.status).toBe(200);
    await dashboard.next((m) => m.event === 'ready');

    // A slot given back is free again.
    held[0]?.close();
    const again = await openSse(port, '/api/v1/events/stream');
    closers.push(() => again.close());
    expect(again.status).toBe(200);
  });

  /** An event stream on its own server, the drops reported to `dropped`. */
  async function startRaw(options: { stallMs?: number; maxQueuedBytes?: number; pageSize?: number }) {
    const drops: Array<(reason: StreamDropReason) => void> = [];
    const dropped = new Promise<StreamDropReason>((resolve) => drops.push(resolve));
    const rowsRead = { events: 0 };
    const stream = createEventStream({
      db: store.db.withPlugin(countEventRows(rowsRead)),
      pollMs: 20,
      ...options,
      onDrop: (reason) => drops[0]?.(reason),
    });
    const sockets: Socket[] = [];
    const server = createServer((req, res) => stream.subscribe(req, res, {}));
    // A connection whose stream was ended closes 50 ms later, not after Node's default 5 s
    // (stalledClient reads until the socket closes).
    server.keepAliveTimeout = 50;
    server.on('connection', (socket: Socket) => sockets.push(socket));
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    raw = { server, stream };
    return { port: (server.address() as AddressInfo).port, dropped, sockets, db: store.db, rowsRead };
  }

  /** A raw client that sends its request and reads nothing until `read()`. */
  function stalledClient(port: number, headers = '') {
    const socket = connect(port, '127.0.0.1');
    closers.push(() => socket.destroy());
    socket.pause();
    socket.write(`GET /stream HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
    return {
      read(): Promise<string> {
        return new Promise((resolve) => {
          const chunks: Buffer[] = [];
          socket.on('data', (chunk: Buffer) => chunks.push(chunk));
          socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
          socket.on('error', () => {});
          socket.resume();
        });
      },
    };
  }

  it('keeps one socket buffer for a reader that stops, drops it when stalled, and lets it resume', async () => {
    // The default page (500 rows): a reader whose socket took a few events at a time must not cost
    // a whole page read per 'drain' (it did: 224 reads of 500 rows to deliver 4 MB).
    const { port, dropped, sockets, db, rowsRead } = await startRaw({ stallMs: 200 });
    // 20 MB of backlog: far more than the kernel buffers of a loopback connection hold (~4 MB).
    const backlog = await insertEvents(db, 10_000, 2_000);
    const backlogBytes = 10_000 * 2_100;
    const client = stalledClient(port, `Last-Event-ID: ${(backlog[0] ?? 1) - 1}\r\n`);

    expect(await dropped).toBe('stalled');
    const written = sockets[0]?.bytesWritten ?? 0;
    // Handed to the socket: what the kernel buffers took plus at most a high-water mark; never the backlog.
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(backlogBytes / 2);
    console.log(
      `stalled reader: ${(written / 1e6).toFixed(1)} MB written of a ${backlogBytes / 1e6} MB backlog`,
    );

    const text = await client.read();
    const seen = eventIds(text);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).toEqual(backlog.slice(0, seen.length));
    const lastSeen = seen.at(-1) as number;
    // One page at the start, then about twice what the socket took per 'drain'.
    expect(rowsRead.events).toBeLessThan(3 * seen.length + 1_000);

    // Resume where the dropped stream stopped: nothing lost, nothing repeated.
    const resumed = await openSse(port, '/stream', { headers: { 'Last-Event-ID': String(lastSeen) } });
    closers.push(() => resumed.close());
    const first = await resumed.next((m) => m.event === 'event');
    expect(Number(first.id)).toBe(backlog[seen.length]);
  }, 180_000);

  it('closes a listener whose queued bytes pass the bound with a last event saying why', async () => {
    const { port, dropped, db } = await startRaw({ maxQueuedBytes: 1_000 });
    const before = await latestEventId(db);
    await insertEvents(db, 5, 2_000);
    const stream = await openSse(port, '/stream', { headers: { 'Last-Event-ID': String(before) } });
    closers.push(() => stream.close());
    expect(await dropped).toBe('queue-full');
    const farewell = await stream.next((m) => m.event === 'dropped');
    expect(JSON.parse(farewell.data)).toEqual({
      reason: 'queue-full',
      message: expect.stringMatching(/more than 1000 bytes waited .*Last-Event-ID to resume/),
    });
  });
});
