import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatSummary, startFleet } from '../../controller/sim/index.js';
import { FAST_TIMING, goodImage } from './helpers/fixtures.js';
import { type FileServer, startHttpServer } from './helpers/image-servers.js';
import { TestLwm2mServer } from './helpers/test-lwm2m-server.js';

let server: TestLwm2mServer;
let http: FileServer;

beforeAll(async () => {
  server = await TestLwm2mServer.start();
  http = await startHttpServer(new Map([['/fw/good.otafw', goodImage]]));
});

afterAll(async () => {
  await Promise.all([server.close(), http.close()]);
});

describe('fleet', () => {
  it('starts N devices, summarises them, updates one and de-registers all on stop', async () => {
    const prefix = `fleet-${process.pid}-`;
    const fleet = await startFleet({
      server: server.uri,
      count: 5,
      prefix,
      version: '1.0.0',
      model: 'T3',
      faults: `download-fails=@${prefix}000002`,
      seed: '1',
      bindAddress: '127.0.0.1',
      timing: FAST_TIMING,
    });
    await fleet.started;
    expect(fleet.devices.map((d) => d.endpoint)).toEqual([1, 2, 3, 4, 5].map((i) => `${prefix}00000${i}`));
    for (const d of fleet.devices) expect(server.registrations.has(d.endpoint)).toBe(true);
    expect(fleet.summary()).toMatchObject({
      devices: 5,
      registered: 5,
      states: { 0: 5 },
      versions: { '1.0.0': 5 },
    });

    const failed = new Promise((resolve) => fleet.on('state', (e) => e.result === 4 && resolve(e.endpoint)));
    await server.writeText(`${prefix}000002`, '/5/0/1', `${http.baseUrl}/fw/good.otafw`);
    expect(await failed).toBe(`${prefix}000002`);

    const rebooted = new Promise((resolve) => fleet.on('rebooted', (e) => resolve(e.version)));
    await server.writeText(`${prefix}000001`, '/5/0/1', `${http.baseUrl}/fw/good.otafw`);
    await new Promise((resolve) => fleet.on('state', (e) => e.state === 2 && resolve(e)));
    await server.execute(`${prefix}000001`, '/5/0/2');
    expect(await rebooted).toBe('2.0.0');
    await new Promise((resolve) => fleet.on('registered', resolve));
    const summary = fleet.summary();
    expect(summary).toMatchObject({ results: { 0: 3, 1: 1, 4: 1 }, versions: { '1.0.0': 4, '2.0.0': 1 } });
    expect(formatSummary(summary)).toContain(
      'registered 5/5 | state idle=5 | result 0=3 1=1 4=1 | version 1.0.0=4 2.0.0=1',
    );

    await fleet.stop();
    for (const d of fleet.devices) expect(server.registrations.has(d.endpoint)).toBe(false);
  });

  it('rejects a bad fault spec and an unresolvable server', async () => {
    await expect(
      startFleet({ server: server.uri, count: 1, version: '1', model: 'T3', faults: 'nope=1' }),
    ).rejects.toThrow(/unknown fault/);
    await expect(startFleet({ server: 'http://x', count: 1, version: '1', model: 'T3' })).rejects.toThrow(
      /coap/,
    );
  });
});

describe('otactl sim', () => {
  it('registers N devices and de-registers them all on SIGINT, exiting 0', async () => {
    const prefix = `cli-${process.pid}-`;
    const child = spawn(
      'node',
      [
        'bin/otactl.js',
        'sim',
        '--server',
        server.uri,
        '--count',
        '3',
        '--prefix',
        prefix,
        '--version',
        '1.2.3',
        '--model',
        'T3',
        '--seed',
        '5',
      ],
      { cwd: join(import.meta.dirname, '../..'), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const endpoints = [1, 2, 3].map((i) => `${prefix}00000${i}`);
    const registered = await Promise.all(endpoints.map((ep) => server.registered(ep)));
    expect(registered.map((r) => r.endpoint)).toEqual(endpoints);
    expect((await server.read(endpoints[0]!, '/3/0/3')).payload.toString()).toBe('1.2.3');
    const deregistered = Promise.all(
      endpoints.map((ep) => server.waitFor((e) => e.kind === 'deregister' && e.registration.endpoint === ep)),
    );
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    await deregistered;
    const [code] = await exited;
    expect(code).toBe(0);
    expect(stderr).toContain('seed 5');
    expect(stderr).toContain('registered 3/3');
  });

  it('documents the fault syntax in its help', async () => {
    const child = spawn('node', ['bin/otactl.js', 'sim', '--help'], {
      cwd: join(import.meta.dirname, '../..'),
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await once(child, 'exit');
    expect(out).toContain('download-fails');
    expect(out).toContain('@ENDPOINT');
  });
});
