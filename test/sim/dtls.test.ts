import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PskKey, StaticCredentialDirectory } from '../../controller/credentials/index.js';
import type { PskCredentials } from '../../controller/dtls/index.js';
import { Lwm2mServer } from '../../controller/lwm2m/lwm2m-server.js';
import { ManualClock } from '../../controller/sim/clock.js';
import { SimDevice, type SimDeviceOptions } from '../../controller/sim/device/index.js';
import type { DeviceEvent } from '../../controller/sim/device-events.js';
import { FleetOptionsError, startFleet } from '../../controller/sim/index.js';
import { FAST_TIMING, goodImage, MODEL, NEW, OLD, uniqueEndpoint } from './helpers/fixtures.js';
import { type FileServer, startHttpServer } from './helpers/image-servers.js';

const ENDPOINTS = Array.from({ length: 5 }, () => uniqueEndpoint('dtls'));
const KEYS = new Map(ENDPOINTS.map((endpoint) => [endpoint, randomBytes(16)]));
let server: Lwm2mServer;
let http: FileServer;

beforeAll(async () => {
  const directory = new StaticCredentialDirectory(
    ENDPOINTS.map((endpoint) => ({
      endpoint,
      identity: `id-${endpoint}`,
      key: new PskKey(KEYS.get(endpoint)!),
    })),
  );
  server = await Lwm2mServer.start({
    port: 'off',
    host: '127.0.0.1',
    coaps: { port: 0 },
    credentials: directory,
    expirySweepMs: 0,
  });
  http = await startHttpServer(new Map([['/fw/good.otafw', goodImage]]));
});

afterAll(async () => {
  await Promise.all([server.stop(), http.close()]);
});

function credentials(endpoint: string, key = KEYS.get(endpoint)!): PskCredentials {
  return { identity: Buffer.from(`id-${endpoint}`), key };
}

/** A device over coaps with an event log and a way to wait for an event. */
function device(endpoint: string, options: Partial<SimDeviceOptions> = {}) {
  const events: DeviceEvent[] = [];
  const listeners: ((e: DeviceEvent) => void)[] = [];
  const sim = new SimDevice({
    endpoint,
    server: server.address('psk'),
    model: MODEL,
    version: OLD,
    bindAddress: '127.0.0.1',
    timing: FAST_TIMING,
    psk: credentials(endpoint),
    ...options,
    onEvent: (e) => {
      events.push(e);
      for (const l of [...listeners]) l(e);
    },
  });
  const waitFor = <K extends DeviceEvent['kind']>(
    kind: K,
    match: (e: Extract<DeviceEvent, { kind: K }>) => boolean = () => true,
  ) =>
    new Promise<Extract<DeviceEvent, { kind: K }>>((resolve) => {
      const l = (e: DeviceEvent) => {
        if (e.kind !== kind || !match(e as Extract<DeviceEvent, { kind: K }>)) return;
        listeners.splice(listeners.indexOf(l), 1);
        resolve(e as Extract<DeviceEvent, { kind: K }>);
      };
      listeners.push(l);
    });
  return { sim, events, waitFor };
}

describe('the simulator over DTLS', () => {
  it('registers through a session, is read through it, and handshakes anew after a reboot', async () => {
    const endpoint = ENDPOINTS[0]!;
    const d = device(endpoint, { protocols: [2] });
    const session = d.waitFor('dtls-session');
    await d.sim.start();
    expect(await session).toMatchObject({ resumed: false, cipherSuite: 'TLS_PSK_WITH_AES_128_CCM_8' });
    const registration = [...server.registrations()].find((r) => r.endpoint === endpoint);
    expect(registration).toMatchObject({ security: 'psk', identity: `id-${endpoint}` });
    const client = server.device(endpoint);
    const read = await client.read('/3/0/3');
    expect(read.kind).toBe('ok');

    const downloaded = d.waitFor('state', (e) => e.state === 2);
    expect((await client.write('/5/0/1', `${http.baseUrl}/fw/good.otafw`)).kind).toBe('ok');
    await downloaded;
    const rebooted = d.waitFor('rebooted');
    const secondSession = d.waitFor('dtls-session');
    const registeredAgain = d.waitFor('registered');
    expect((await client.execute('/5/0/2')).kind).toBe('ok');
    await rebooted;
    // A reboot loses the session: a full handshake, not a resumption.
    expect(await secondSession).toMatchObject({ resumed: false });
    await registeredAgain;
    expect(d.sim.firmwareVersion).toBe(NEW);
    await d.sim.stop();
  });

  it('a queue-mode device that slept resumes its session when it wakes up', async () => {
    const clock = new ManualClock();
    const endpoint = ENDPOINTS[1]!;
    const d = device(endpoint, { clock, lifetime: 100, faults: new Map([['queue-mode', 10]]) });
    const first = d.waitFor('dtls-session');
    const registered = d.waitFor('registered');
    await d.sim.start();
    expect(await first).toMatchObject({ resumed: false });
    await registered;
    clock.advance(10_000); // asleep: its connection is gone
    const resumed = d.waitFor('dtls-session');
    const updated = d.waitFor('updated');
    clock.advance(70_000); // the Update is due: it wakes up
    expect(await resumed).toMatchObject({ resumed: true });
    await updated;
    await d.sim.stop();
  });

  it('a device with a wrong key fails its handshake and does not register; the next device does', async () => {
    const [wrongOne, honest] = [ENDPOINTS[2]!, ENDPOINTS[3]!];
    const bad = device(wrongOne, { psk: credentials(wrongOne, randomBytes(16)), registerRetryMs: 3_600_000 });
    const failed = bad.waitFor('dtls-failed');
    const registrationFailed = bad.waitFor('registration-failed');
    void bad.sim.start();
    expect((await failed).detail).toBe('server sent fatal alert 20');
    await registrationFailed;
    expect([...server.registrations()].some((r) => r.endpoint === wrongOne)).toBe(false);
    const good = device(honest);
    const registered = good.waitFor('registered');
    await good.sim.start();
    await registered;
    await Promise.all([bad.sim.stop(), good.sim.stop()]);
  });

  it('falls over from a silent server to the next with a session of its own', async () => {
    const endpoint = ENDPOINTS[4]!;
    // A port where nothing answers: the handshake, and so the Register, gets no answer.
    const silent = createSocket('udp4');
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    const d = device(endpoint, {
      server: { address: '127.0.0.1', port: silent.address().port },
      fallbackServers: [server.address('psk')],
      timing: { ...FAST_TIMING, ackTimeoutMs: 30, maxRetransmit: 2 },
    });
    const session = d.waitFor('dtls-session');
    const registered = d.waitFor('registered');
    await d.sim.start();
    silent.close();
    expect(d.events.map((e) => e.kind).slice(0, 2)).toEqual(['registration-failed', 'failover']);
    expect(await session).toMatchObject({ resumed: false });
    await registered;
    expect(d.sim.server).toEqual(server.address('psk'));
    expect([...server.registrations()].find((r) => r.endpoint === endpoint)).toMatchObject({
      security: 'psk',
    });
    await d.sim.stop();
  });

  it('a fleet refuses a coaps:// server without keys, and keys without a coaps:// server', async () => {
    const base = { count: 1, version: OLD, model: MODEL, prefix: 'x-' };
    await expect(startFleet({ ...base, server: 'coaps://127.0.0.1:5684' })).rejects.toThrow(
      FleetOptionsError,
    );
    await expect(
      startFleet({
        ...base,
        server: 'coap://127.0.0.1:5683',
        psk: new Map([['x-000001', credentials('x')]]),
      }),
    ).rejects.toThrow(/need a coaps/);
    await expect(
      startFleet({ ...base, server: 'coaps://127.0.0.1:5684', psk: new Map([['y', credentials('y')]]) }),
    ).rejects.toThrow(/no pre-shared key for 1 endpoint/);
  });
});
