import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../controller/api/http-app.js';
import { type RunningHttpServer, startHttpServer } from '../../controller/api/http-server.js';
import type {
  DeviceDetailView,
  DeviceView,
  EventView,
  RolloutDetailView,
  RolloutView,
} from '../../controller/api/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import { insertDevice, insertEvent, insertUpdate, seedFleet } from './fixtures.js';
import { getJson, httpRequest } from './http-client.js';
import { openSse } from './sse-client.js';

describe.each(testBackends)('HTTP API on $name', (backend) => {
  let store: OpenDatabase;
  let server: RunningHttpServer;
  let port: number;
  const eventIds: number[] = [];

  beforeAll(async () => {
    store = await backend.open();
    const { db } = store;
    await seedFleet(db);
    const d5 = await insertDevice(db, 'dev-005');
    await insertUpdate(db, d5, 'dev-005', { phase: 'updating', state: 3 });
    const d6 = await insertDevice(db, 'dev-006', { firmwareVersion: '2.0.0' });
    await insertUpdate(db, d6, 'dev-006', {
      rollout: 'beta',
      phase: 'succeeded',
      result: 1,
      targetVersion: '2.0.0',
    });
    eventIds.push(await insertEvent(db, { type: 'RolloutStarted', endpoint: null }));
    eventIds.push(await insertEvent(db, { endpoint: 'dev-001' }));
    eventIds.push(await insertEvent(db, { endpoint: 'dev-002', rollout: 'canary' }));
    eventIds.push(await insertEvent(db, { endpoint: 'dev-006', rollout: 'beta' }));
    const firmwareHandler = (req: IncomingMessage, res: ServerResponse): boolean => {
      if (!req.url?.startsWith('/binaries/')) return false;
      res.end('firmware bytes');
      return true;
    };
    const app = createHttpApp({ db, firmwareHandler, eventPollMs: 50, maxStreamSubscribers: 2 });
    server = await startHttpServer({ port: 0, host: '127.0.0.1', app });
    port = server.port;
  });

  afterAll(async () => {
    await server?.close();
    await store?.close();
  });

  it('answers /healthz and /readyz while the database answers', async () => {
    expect(await getJson(port, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await getJson(port, '/readyz')).toEqual({ status: 200, body: { ready: true, reasons: [] } });
  });

  it('lists rollouts as stored, with steps and progress', async () => {
    const { status, body } = await getJson<{ rollouts: RolloutView[] }>(port, '/api/v1/rollouts');
    expect(status).toBe(200);
    expect(body.rollouts.map((r) => r.name)).toEqual(['beta', 'canary']);
    const canary = body.rollouts.find((r) => r.name === 'canary')!;
    expect(canary).toMatchObject({
      phase: 'Progressing',
      currentStep: 1,
      stepCount: 3,
      gitRevision: 'abc1234def',
      group: 'sensors',
      firmware: 'sensor-1.1.0',
      targetVersion: '1.1.0',
      maxInFlight: 20,
      progress: 0.5,
      stepStartedAt: '2025-03-01T10:00:00.000Z',
    });
    expect(canary.counts).toMatchObject({ selected: 300, upToDate: 150, failed: 6, downloaded: 0 });
    expect(canary.counts.failedByReason).toEqual({ 'connection lost': 4, timeout: 2 });
    expect(canary.steps.map((s) => [s.percent, s.devices, s.upToDate, s.status])).toEqual([
      [10, 30, 30, 'completed'],
      [50, 150, 150, 'current'],
      [100, 300, 150, 'pending'],
    ]);
    expect(canary.steps[1]?.pause).toEqual({ kind: 'manual' });
  });

  it('shows one rollout with its 20 most recent failures, newest first', async () => {
    const { status, body } = await getJson<RolloutDetailView>(port, '/api/v1/rollouts/canary');
    expect(status).toBe(200);
    expect(body.name).toBe('canary');
    expect(body.recentFailures.map((f) => [f.endpoint, f.result, f.resultText, f.failureReason])).toEqual([
      ['dev-003', 5, 'integrity check failure', 'integrity check failure'],
      ['dev-001', 4, 'connection lost during download', 'connection lost'],
    ]);
  });

  it('answers 404 with a JSON error for an unknown rollout, device or path', async () => {
    expect(await getJson(port, '/api/v1/rollouts/nope')).toEqual({
      status: 404,
      body: { error: 'rollout "nope" not found' },
    });
    expect((await getJson(port, '/api/v1/devices/nope')).status).toBe(404);
    expect((await getJson(port, '/api/v1/whatever')).status).toBe(404);
    expect((await getJson(port, '/nothing-here')).status).toBe(404);
  });

  it('answers 400 with the reason, never 500, to a NUL or bytes that are not UTF-8 anywhere in the target', async () => {
    const targets = [
      '/api/v1/rollouts/X',
      '/api/v1/devices/X',
      '/api/v1/X',
      '/api/v1/X/stream',
      '/X',
      ...['rollout', 'state', 'search', 'after', 'limit'].map((p) => `/api/v1/devices?${p}=X`),
      ...['rollout', 'endpoint', 'since', 'limit'].map((p) => `/api/v1/events?${p}=X`),
      ...['rollout', 'endpoint', 'since'].map((p) => `/api/v1/events/stream?${p}=X`),
      '/api/v1/devices?X=1',
      '/api/v1/events?rollout=canary&endpoint=a=b=X',
      ...[
        '/api/v1/rollouts',
        '/api/v1/plan',
        '/api/v1/downloads',
        '/metrics',
        '/healthz',
        '/readyz',
        '/',
      ].map((path) => `${path}?x=X`),
    ];
    const bad = [
      ['%00', /NUL byte/],
      ['dev%00-001', /NUL byte/],
      ['%C0%80', /not valid percent-encoded UTF-8/],
      ['%ED%A0%80', /not valid percent-encoded UTF-8/],
      ['%FF', /not valid percent-encoded UTF-8/],
    ] as const;
    for (const target of targets) {
      for (const [value, reason] of bad) {
        const path = target.replace('X', value);
        const res = await httpRequest(port, path);
        expect({ path, status: res.status }).toEqual({ path, status: 400 });
        expect(JSON.parse(res.body).error).toMatch(reason);
      }
    }
    // Text that is merely unusual is still looked up as sent.
    expect((await getJson(port, '/api/v1/devices/%E2%9C%93%20x')).body).toEqual({
      error: 'device "✓ x" not found',
    });
  });

  it('lists devices with their active update', async () => {
    const { body } = await getJson<{ devices: DeviceView[]; nextAfter: string | null }>(
      port,
      '/api/v1/devices',
    );
    expect(body.devices.map((d) => d.endpoint)).toEqual([
      'dev-001',
      'dev-002',
      'dev-003',
      'dev-004',
      'dev-005',
      'dev-006',
    ]);
    expect(body.nextAfter).toBeNull();
    const d1 = body.devices[0]!;
    expect(d1).toMatchObject({
      endpoint: 'dev-001',
      firmwareVersion: '1.0.0',
      model: 'sensor',
      registrationState: 'registered',
      lastSeenAt: '2025-03-01T10:00:00.000Z',
    });
    expect(d1.activeUpdate).toMatchObject({
      attempt: 2,
      phase: 'downloading',
      state: 1,
      stateText: 'downloading',
    });
    expect(body.devices[3]).toMatchObject({
      endpoint: 'dev-004',
      registrationState: 'expired',
      activeUpdate: null,
    });
  });

  it.each([
    ['state=downloading', ['dev-001']],
    ['state=updating', ['dev-005']],
    ['state=failed', ['dev-003']],
    ['state=up-to-date', ['dev-002', 'dev-006']],
    ['rollout=canary&state=up-to-date', ['dev-002']],
    ['rollout=beta', ['dev-006']],
    ['rollout=canary', ['dev-001', 'dev-002', 'dev-003', 'dev-005']],
    ['search=-00', ['dev-001', 'dev-002', 'dev-003', 'dev-004', 'dev-005', 'dev-006']],
    ['search=%25', []],
    ['search=05', ['dev-005']],
  ])('filters devices by %s', async (query, expected) => {
    const { body } = await getJson<{ devices: DeviceView[] }>(port, `/api/v1/devices?${query}`);
    expect(body.devices.map((d) => d.endpoint)).toEqual(expected);
  });

  it('pages through devices by endpoint with limit and after', async () => {
    const seen: string[] = [];
    let after: string | null = '';
    let pages = 0;
    while (after !== null) {
      const { body }: { body: { devices: DeviceView[]; nextAfter: string | null } } = await getJson(
        port,
        `/api/v1/devices?limit=4&after=${encodeURIComponent(after)}`,
      );
      expect(body.devices.length).toBeLessThanOrEqual(4);
      seen.push(...body.devices.map((d) => d.endpoint));
      after = body.nextAfter;
      pages++;
    }
    expect(pages).toBe(2);
    expect(seen).toEqual(['dev-001', 'dev-002', 'dev-003', 'dev-004', 'dev-005', 'dev-006']);
  });

  it.each([
    ['/api/v1/devices?state=bogus', /state must be one of pending, .*up-to-date, failed/],
    ['/api/v1/devices?limit=0', /limit must be between 1 and 1000/],
    ['/api/v1/devices?limit=ten', /limit must be a whole number/],
    ['/api/v1/events?since=-1', /since must be a whole number/],
  ])('refuses %s with 400', async (path, message) => {
    const { status, body } = await getJson<{ error: string }>(port, path);
    expect(status).toBe(400);
    expect(body.error).toMatch(message);
  });

  it('shows a device with its full update history and events', async () => {
    const { status, body } = await getJson<DeviceDetailView>(port, '/api/v1/devices/dev-001');
    expect(status).toBe(200);
    expect(body.updates.map((u) => [u.attempt, u.phase, u.result, u.resultText])).toEqual([
      [1, 'failed', 4, 'connection lost during download'],
      [2, 'downloading', 0, 'no result yet'],
    ]);
    expect(body.updates[0]).toMatchObject({
      rollout: 'canary',
      targetVersion: '1.1.0',
      gitRevision: 'abc1234def',
      finishedAt: '2025-03-01T10:03:00.000Z',
      createdAt: '2025-03-01T10:01:00.000Z',
    });
    expect(body.activeUpdate?.attempt).toBe(2);
    expect(body.events.map((e) => e.id)).toEqual([eventIds[1]]);
  });

  it('lists events after an id in ascending order, filtered by rollout and endpoint', async () => {
    const all = await getJson<{ events: EventView[]; lastId: number }>(port, '/api/v1/events');
    expect(all.body.events.map((e) => e.id)).toEqual(eventIds);
    expect(all.body.lastId).toBe(eventIds[3]);
    const since = await getJson<{ events: EventView[]; lastId: number }>(
      port,
      `/api/v1/events?since=${eventIds[1]}`,
    );
    expect(since.body.events.map((e) => e.id)).toEqual([eventIds[2], eventIds[3]]);
    const beta = await getJson<{ events: EventView[] }>(port, '/api/v1/events?rollout=beta');
    expect(beta.body.events.map((e) => e.endpoint)).toEqual(['dev-006']);
    const dev1 = await getJson<{ events: EventView[] }>(port, '/api/v1/events?endpoint=dev-001');
    expect(dev1.body.events[0]).toMatchObject({
      type: 'UpdateStarted',
      message: 'update started',
      rollout: 'canary',
      details: { attempt: 1 },
      gitRevision: 'abc1234def',
    });
    const newest = await getJson<{ events: EventView[] }>(port, '/api/v1/events?limit=2');
    expect(newest.body.events.map((e) => e.id)).toEqual([eventIds[2], eventIds[3]]);
    const nothingNew = await getJson<{ events: EventView[]; lastId: number }>(
      port,
      `/api/v1/events?since=${eventIds[3]}`,
    );
    expect(nothingNew.body).toEqual({ events: [], lastId: eventIds[3] });
  });

  it('streams new events as server-sent events', async () => {
    const stream = await openSse(port, '/api/v1/events/stream?rollout=canary');
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
      await stream.next((m) => m.event === 'ready');
      await insertEvent(store.db, { rollout: 'beta', type: 'Ignored' });
      const id = await insertEvent(store.db, {
        rollout: 'canary',
        type: 'StepAdvanced',
        message: 'step 3 of 3',
      });
      const message = await stream.next((m) => m.event === 'event');
      expect(message.id).toBe(String(id));
      expect(JSON.parse(message.data)).toMatchObject({ id, type: 'StepAdvanced', message: 'step 3 of 3' });
      expect(stream.received.filter((m) => m.event === 'event')).toHaveLength(1);
    } finally {
      stream.close();
    }
  });

  it('bounds the number of event stream listeners', async () => {
    const first = await openSse(port, '/api/v1/events/stream');
    const second = await openSse(port, '/api/v1/events/stream');
    try {
      await first.next((m) => m.event === 'ready');
      await second.next((m) => m.event === 'ready');
      const third = await httpRequest(port, '/api/v1/events/stream');
      expect(third.status).toBe(503);
      expect(JSON.parse(third.body).error).toMatch(/too many event stream listeners/);
    } finally {
      first.close();
      second.close();
    }
  });

  it('is read-only: other methods get 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await httpRequest(port, '/api/v1/rollouts', { method });
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD');
    }
    const head = await httpRequest(port, '/api/v1/rollouts', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('delegates /binaries/ to the firmware handler', async () => {
    const res = await httpRequest(port, '/binaries/sensor-1.1.0.bin');
    expect(res.body).toBe('firmware bytes');
  });

  it('serves the dashboard page at /', async () => {
    const res = await httpRequest(port, '/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<title>otactl</title>');
    // self-contained: nothing fetched from elsewhere (the favicon is a data: URI)
    expect(res.body).not.toMatch(/<(script|link)[^>]+(src|href)="(?!data:)/);
  });
});

describe.each(testBackends)('HTTP API guards on $name', (backend) => {
  it('requires the bearer token on /api and /metrics, never on the probes', async () => {
    const store = await backend.open();
    const { createMetrics } = await import('../../controller/metrics/metrics.js');
    const app = createHttpApp({ db: store.db, apiToken: 's3cret', metrics: createMetrics({ db: store.db }) });
    const server = await startHttpServer({ port: 0, host: '127.0.0.1', app });
    try {
      for (const path of ['/api/v1/rollouts', '/api/v1/devices/x', '/metrics']) {
        const missing = await httpRequest(server.port, path);
        expect(missing.status).toBe(401);
        expect(JSON.parse(missing.body)).toEqual({ error: 'missing or wrong bearer token' });
        expect(missing.headers['www-authenticate']).toMatch(/^Bearer/);
        const wrong = await httpRequest(server.port, path, { headers: { Authorization: 'Bearer nope' } });
        expect(wrong.status).toBe(401);
      }
      const right = await getJson(server.port, '/api/v1/rollouts', { Authorization: 'Bearer s3cret' });
      expect(right).toEqual({ status: 200, body: { rollouts: [] } });
      const metrics = await httpRequest(server.port, '/metrics', {
        headers: { Authorization: 'Bearer s3cret' },
      });
      expect(metrics.status).toBe(200);
      expect((await httpRequest(server.port, '/healthz')).status).toBe(200);
      expect((await httpRequest(server.port, '/readyz')).status).toBe(200);
    } finally {
      await server.close();
      await store.close();
    }
  });

  it('turns /readyz to 503 with reasons when the controller or the database is not ready', async () => {
    const store = await backend.open();
    let starting = true;
    const app = createHttpApp({
      db: store.db,
      readiness: () =>
        starting ? { ready: false, reasons: ['manifests not loaded yet'] } : { ready: true, reasons: [] },
    });
    const server = await startHttpServer({ port: 0, host: '127.0.0.1', app });
    try {
      expect(await getJson(server.port, '/readyz')).toEqual({
        status: 503,
        body: { ready: false, reasons: ['manifests not loaded yet'] },
      });
      starting = false;
      expect((await getJson(server.port, '/readyz')).status).toBe(200);
      await store.close();
      const down = await getJson<{ ready: boolean; reasons: string[] }>(server.port, '/readyz');
      expect(down.status).toBe(503);
      expect(down.body.ready).toBe(false);
      expect(down.body.reasons).toEqual([expect.stringMatching(/^database unreachable: /)]);
      expect((await getJson(server.port, '/healthz')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
