import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../controller/sim/clock.js';
import { decodeMessage, formatCode, MessageType, uriPath } from '../../controller/sim/coap/coap-message.js';
import type { DeviceEvent } from '../../controller/sim/device-events.js';
import { SimDevice, startFleet } from '../../controller/sim/index.js';
import { startDevice } from './helpers/fixtures.js';
import { TestLwm2mServer } from './helpers/test-lwm2m-server.js';

/** Three transmissions of 30, 60 and 120 ms: a request to a dead server gives up after 210 ms. */
const QUICK_TIMING = { ackTimeoutMs: 30, ackRandomFactor: 1, maxRetransmit: 2, responseTimeoutMs: 2000 };

/** A UDP port where nothing answers (a killed server), recording the requests that reach it. */
class DeadServer {
  readonly requests: { readonly messageId: number; readonly request: string }[] = [];
  private constructor(readonly socket: Socket) {
    socket.on('message', (data) => {
      const m = decodeMessage(data);
      if (m !== undefined && m.type === MessageType.CON)
        this.requests.push({ messageId: m.messageId, request: `${formatCode(m.code)} ${uriPath(m)}` });
    });
  }

  /** Listens on `port` (a server's, just closed), or a new port. */
  static async listen(port = 0): Promise<DeadServer> {
    const socket = createSocket('udp4');
    socket.bind(port, '127.0.0.1');
    await once(socket, 'listening');
    return new DeadServer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Each request once (retransmissions share a message id). */
  distinct(): string[] {
    const seen = new Set<number>();
    return this.requests.filter((r) => !seen.has(r.messageId) && seen.add(r.messageId)).map((r) => r.request);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

async function lwm2mServer(): Promise<TestLwm2mServer> {
  const server = await TestLwm2mServer.start();
  cleanup.push(() => server.close());
  return server;
}

async function deadServer(port?: number): Promise<DeadServer> {
  const dead = await DeadServer.listen(port);
  cleanup.push(() => dead.close());
  return dead;
}

const at = (port: number) => ({ address: '127.0.0.1', port });
const summary = (e: DeviceEvent) =>
  e.kind === 'failover'
    ? `failover ${e.from.port} -> ${e.to.port}`
    : e.kind === 'registered'
      ? e.kind
      : undefined;

/** A device registered with `first`, `second` its fallback, its Updates due every 80 s of `clock`. */
async function deviceOn(first: TestLwm2mServer, second: TestLwm2mServer, clock: ManualClock) {
  const started = await startDevice(first, {
    fallbackServers: [at(second.port)],
    lifetime: 100,
    clock,
    timing: QUICK_TIMING,
  });
  cleanup.push(() => started.device.stop());
  return started;
}

describe('a simulated device with several servers', () => {
  it('re-registers with its server when an Update goes unanswered, then registers with the next one', async () => {
    const a = await TestLwm2mServer.start();
    const portA = a.port;
    const b = await lwm2mServer();
    const clock = new ManualClock();
    const { device, events, waitFor } = await deviceOn(a, b, clock);
    expect(device.server.port).toBe(portA);
    const location = device.location;

    // A dies; its port stays silent.
    await a.close();
    const deadA = await deadServer(portA);
    const atB = b.registered(device.endpoint);
    const registered = waitFor((e) => e.kind === 'registered');
    clock.advance(80_000);
    await registered;
    expect((await atB).port).toBe(device.port);
    expect(deadA.distinct()).toEqual([`0.02 ${location}`, '0.02 /rd']);
    expect(events.flatMap((e) => summary(e) ?? [])).toEqual([
      'registered',
      `failover ${portA} -> ${b.port}`,
      'registered',
    ]);
    expect(device.server.port).toBe(b.port);
    expect(device.registered).toBe(true);

    // B is its server now: the next Update goes there.
    const update = b.waitFor((e) => e.kind === 'update' && e.registration.endpoint === device.endpoint);
    clock.advance(80_000);
    await update;
    expect(deadA.distinct()).toHaveLength(2);
  });

  it('a server that answers an Update with an error keeps the device: it registers there again', async () => {
    const a = await lwm2mServer();
    const b = await lwm2mServer();
    const clock = new ManualClock();
    const { device, events, waitFor } = await deviceOn(a, b, clock);
    a.forgetOnUpdate = true;
    const again = waitFor((e) => e.kind === 'registered');
    clock.advance(80_000);
    await again;
    expect(events.filter((e) => e.kind === 'failover')).toEqual([]);
    expect(device.server.port).toBe(a.port);
    expect(b.log).toEqual([]);
  });

  it('goes once round its servers at once, then waits its Register back-off before the next round', async () => {
    const a = await deadServer();
    const b = await deadServer();
    const clock = new ManualClock();
    const events: DeviceEvent[] = [];
    const device = new SimDevice({
      endpoint: 'round-trip',
      server: at(a.port),
      fallbackServers: [at(b.port)],
      model: 'T3',
      version: '1.0.0',
      bindAddress: '127.0.0.1',
      timing: QUICK_TIMING,
      registerRetryMs: 5000,
      clock,
      onEvent: (e) => events.push(e),
    });
    cleanup.push(() => device.stop());
    await device.start();
    expect(a.distinct()).toEqual(['0.02 /rd']);
    expect(b.distinct()).toEqual(['0.02 /rd']);
    expect(events.map((e) => (e.kind === 'failover' ? `failover ${e.to.port}` : e.kind))).toEqual([
      'registration-failed',
      `failover ${b.port}`,
      'registration-failed',
      `failover ${a.port}`,
    ]);
    expect(clock.pending).toBe(1);
    const next = once(a.socket, 'message');
    clock.advance(5000);
    await next;
    expect(a.distinct()).toEqual(['0.02 /rd', '0.02 /rd']);
  });

  it('counts the Execute 5/0/2 requests it receives, a retransmission once', async () => {
    const server = await lwm2mServer();
    const { device } = await startDevice(server);
    cleanup.push(() => device.stop());
    expect(device.updateExecutes).toBe(0);
    // Nothing downloaded: refused, but received all the same.
    expect((await server.execute(device.endpoint, '/5/0/2')).code).toBe('4.05');
    expect((await server.execute(device.endpoint, '/5/0/2')).code).toBe('4.05');
    expect((await server.execute(device.endpoint, '/1/0/8')).code).toBe('2.04');
    expect(device.updateExecutes).toBe(2);
  });
});

describe('a fleet with several servers', () => {
  it('starts every device on the first server, or device i on server i mod N when spread', async () => {
    const servers = [await lwm2mServer(), await lwm2mServer(), await lwm2mServer()];
    const uris = servers.map((s) => s.uri);
    const first = await startFleet({
      server: uris,
      count: 4,
      prefix: 'first-',
      version: '1.0.0',
      model: 'T3',
      bindAddress: '127.0.0.1',
      timing: QUICK_TIMING,
    });
    cleanup.push(() => first.stop());
    const spread = await startFleet({
      server: uris,
      spread: true,
      count: 4,
      prefix: 'spread-',
      version: '1.0.0',
      model: 'T3',
      bindAddress: '127.0.0.1',
      timing: QUICK_TIMING,
    });
    cleanup.push(() => spread.stop());
    await Promise.all([first.started, spread.started]);
    const index = (port: number) => servers.findIndex((s) => s.port === port);
    expect(first.devices.map((d) => index(d.server.port))).toEqual([0, 0, 0, 0]);
    expect(spread.devices.map((d) => index(d.server.port))).toEqual([0, 1, 2, 0]);
    for (const d of spread.devices)
      expect(servers[index(d.server.port)]!.registrations.has(d.endpoint)).toBe(true);
  });

  it('refuses coap:// and coaps:// servers mixed', async () => {
    await expect(
      startFleet({
        server: ['coap://127.0.0.1:5683', 'coaps://127.0.0.1:5684'],
        count: 1,
        version: '1',
        model: 'T3',
      }),
    ).rejects.toThrow(/all coap:\/\/ or all coaps:\/\//);
  });

  it('otactl sim takes --server more than once and comma lists', async () => {
    const servers = [await lwm2mServer(), await lwm2mServer(), await lwm2mServer()];
    const child = spawn(
      process.execPath,
      [
        'bin/otactl.js',
        'sim',
        '--server',
        servers[0]!.uri,
        '--server',
        `${servers[1]!.uri},${servers[2]!.uri}`,
        '--spread',
        '--count',
        '3',
        '--prefix',
        'cli-spread-',
      ],
      { cwd: join(import.meta.dirname, '../..'), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    cleanup.push(async () => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const registered = await Promise.all(servers.map((s, i) => s.registered(`cli-spread-00000${i + 1}`)));
    expect(registered.map((r) => r.endpoint)).toEqual([
      'cli-spread-000001',
      'cli-spread-000002',
      'cli-spread-000003',
    ]);
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    expect((await exited)[0]).toBe(0);
    expect(stderr).toContain(`3 devices against ${servers.map((s) => s.uri).join(', ')} (spread)`);
  });
});
