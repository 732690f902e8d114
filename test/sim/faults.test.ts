import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignFaults, FAULT_KINDS, type FaultKind, parseFaultSpec } from '../../controller/sim/faults.js';
import { goodImage, NEW, OLD, startDevice } from './helpers/fixtures.js';
import { type FileServer, startHttpServer } from './helpers/image-servers.js';
import { TestLwm2mServer } from './helpers/test-lwm2m-server.js';

let server: TestLwm2mServer;
let http: FileServer;
let uri: string;

beforeAll(async () => {
  server = await TestLwm2mServer.start();
  http = await startHttpServer(new Map([['/fw/good.otafw', goodImage]]));
  uri = `${http.baseUrl}/fw/good.otafw`;
});

afterAll(async () => {
  await Promise.all([server.close(), http.close()]);
});

function faults(kind: FaultKind, param?: number) {
  return new Map([[kind, param]]);
}

describe('fault spec', () => {
  it('parses probabilities, endpoint lists and parameters', () => {
    const r = parseFaultSpec('download-fails=0.05, no-reregister=@a|b ,slow-download=0.1:2000');
    expect(r).toEqual({
      ok: true,
      rules: [
        { fault: 'download-fails', selector: { kind: 'probability', probability: 0.05 } },
        { fault: 'no-reregister', selector: { kind: 'endpoints', endpoints: ['a', 'b'] } },
        { fault: 'slow-download', selector: { kind: 'probability', probability: 0.1 }, param: 2000 },
      ],
    });
  });

  it.each([
    ['unknown-fault=0.1', 'unknown fault'],
    ['download-fails', 'needs'],
    ['download-fails=1.5', 'probability'],
    ['download-fails=x', 'probability'],
    ['slow-download=0.1:fast', 'parameter'],
    ['expire=@', 'empty endpoint list'],
  ])('rejects %s', (spec, message) => {
    const r = parseFaultSpec(spec);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(message);
  });
});

describe('fault assignment', () => {
  const rules = FAULT_KINDS.map((fault) => ({
    fault,
    selector: { kind: 'probability', probability: 0.3 } as const,
  }));
  const endpoints = Array.from({ length: 200 }, (_, i) => `sim-${i}`);
  const assignment = (seed: string) =>
    endpoints.map((ep) => [...assignFaults(rules, seed, ep).keys()].sort().join(','));

  it('is the same for the same seed', () => {
    expect(assignment('42')).toEqual(assignment('42'));
  });

  it('differs for another seed', () => {
    expect(assignment('43')).not.toEqual(assignment('42'));
  });

  it('follows the probability roughly and is independent per fault', () => {
    const counts = new Map<string, number>();
    for (const ep of endpoints)
      for (const k of assignFaults(rules, '7', ep).keys()) counts.set(k, (counts.get(k) ?? 0) + 1);
    for (const fault of FAULT_KINDS) {
      expect(counts.get(fault) ?? 0).toBeGreaterThan(30);
      expect(counts.get(fault) ?? 0).toBeLessThan(90);
    }
  });

  it('applies an endpoint list exactly, whatever the seed', () => {
    const listed = [{ fault: 'expire', selector: { kind: 'endpoints', endpoints: ['sim-3'] } }] as const;
    expect(assignFaults(listed, 'x', 'sim-3').has('expire')).toBe(true);
    expect(assignFaults(listed, 'x', 'sim-4').size).toBe(0);
  });
});

describe('each fault produces the State and Result the spec names', () => {
  it.each([
    ['download-fails', 4],
    ['no-storage', 2],
    ['out-of-ram', 3],
    ['integrity', 5],
    ['unsupported-package', 6],
    ['invalid-uri', 7],
    ['unsupported-protocol', 9],
  ] as const)('%s: State 0, Result %i', async (fault, result) => {
    const { device, settles, events } = await startDevice(server, { faults: faults(fault) });
    expect((await server.writeText(device.endpoint, '/5/0/1', uri)).code).toBe('2.04');
    await settles(0, result);
    expect((await server.read(device.endpoint, '/5/0/5')).payload.toString()).toBe(String(result));
    expect((await server.read(device.endpoint, '/5/0/3')).payload.toString()).toBe('0');
    const downloads = fault === 'invalid-uri' || fault === 'unsupported-protocol';
    expect(events.some((e) => e.kind === 'state' && e.state === 1)).toBe(!downloads);
    await device.stop();
  });

  it('update-fails: reboots on the old version with State 0, Result 8', async () => {
    const { device, settles, waitFor } = await startDevice(server, { faults: faults('update-fails') });
    await server.writeText(device.endpoint, '/5/0/1', uri);
    await settles(2, 0);
    const rebooted = waitFor((e) => e.kind === 'registered');
    await server.execute(device.endpoint, '/5/0/2');
    await rebooted;
    expect((await server.read(device.endpoint, '/3/0/3')).payload.toString()).toBe(OLD);
    expect((await server.read(device.endpoint, '/5/0/5')).payload.toString()).toBe('8');
    expect((await server.read(device.endpoint, '/5/0/3')).payload.toString()).toBe('0');
    await device.stop();
  });

  it('fake-success: reports Result 1 but keeps the old version', async () => {
    const { device, settles, waitFor } = await startDevice(server, { faults: faults('fake-success') });
    await server.writeText(device.endpoint, '/5/0/1', uri);
    await settles(2, 0);
    const rebooted = waitFor((e) => e.kind === 'registered');
    await server.execute(device.endpoint, '/5/0/2');
    await rebooted;
    expect((await server.read(device.endpoint, '/5/0/5')).payload.toString()).toBe('1');
    expect((await server.read(device.endpoint, '/3/0/3')).payload.toString()).toBe(OLD);
    await device.stop();
  });

  it('no-reregister: goes Updating and never registers again', async () => {
    const { device, settles, waitFor, events } = await startDevice(server, {
      faults: faults('no-reregister'),
    });
    await server.writeText(device.endpoint, '/5/0/1', uri);
    await settles(2, 0);
    const halted = waitFor((e) => e.kind === 'halted');
    await server.execute(device.endpoint, '/5/0/2');
    await halted;
    expect(device.state).toBe(3);
    expect(device.port).toBe(0);
    expect(events.filter((e) => e.kind === 'registered')).toHaveLength(1);
    await device.stop();
  });

  it('silent-download: stays Downloading, sends no notification and no result', async () => {
    const { device, events } = await startDevice(server, { faults: faults('silent-download') });
    const obs = await server.observe(device.endpoint, '/5/0/3');
    await server.writeText(device.endpoint, '/5/0/1', uri);
    // A Read round trip after the write: any notification would have been sent before its answer.
    expect((await server.read(device.endpoint, '/5/0/3')).payload.toString()).toBe('1');
    expect((await server.read(device.endpoint, '/5/0/5')).payload.toString()).toBe('0');
    expect(obs.notifications).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'state')).toHaveLength(0);
    obs.close();
    await device.stop();
  });

  it('duplicate-notifications: every notification arrives twice with the same sequence number', async () => {
    const { device, settles } = await startDevice(server, { faults: faults('duplicate-notifications') });
    const obs = await server.observe(device.endpoint, '/5/0/3');
    await server.writeText(device.endpoint, '/5/0/1', uri);
    await settles(2, 0);
    const states = [];
    for (let i = 0; i < 5; i++) states.push(await obs.next());
    expect(states.map((n) => n.payload.toString())).toEqual(['0', '1', '1', '2', '2']);
    expect(states[1]!.seq).toBe(states[2]!.seq);
    expect(states[3]!.seq).toBe(states[4]!.seq);
    obs.close();
    await device.stop();
  });

  it('reorder-notifications: a notification arrives after the next one, with its older sequence number', async () => {
    const { device, settles } = await startDevice(server, { faults: faults('reorder-notifications') });
    const obs = await server.observe(device.endpoint, '/5/0/3');
    await server.writeText(device.endpoint, '/5/0/1', uri);
    await settles(2, 0);
    const first = await obs.next();
    const a = await obs.next();
    const b = await obs.next();
    expect(first.payload.toString()).toBe('0');
    expect([a.payload.toString(), b.payload.toString()]).toEqual(['2', '1']);
    expect(a.seq).toBeGreaterThan(b.seq);
    obs.close();
    await device.stop();
  });

  it('slow-download: still completes, limited to the given bandwidth', async () => {
    const { device, settles } = await startDevice(server, { faults: faults('slow-download', 1_000_000) });
    await server.writeText(device.endpoint, '/5/0/1', uri);
    await settles(2, 0);
    expect((await server.read(device.endpoint, '/5/0/7')).payload.toString()).toBe(NEW);
    await device.stop();
  });

  it('queue-mode: registers with b=U and Q and announces UQ in 1/0/7', async () => {
    const { device } = await startDevice(server, { faults: faults('queue-mode') });
    const r = server.registrations.get(device.endpoint)!;
    expect(r.query.b).toBe('U');
    expect(r.query).toHaveProperty('Q');
    expect((await server.read(device.endpoint, '/1/0/7')).payload.toString()).toBe('UQ');
    await device.stop();
  });
});
