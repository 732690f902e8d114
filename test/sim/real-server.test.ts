import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceRecord } from '../../controller/lwm2m/codec/index.js';
import { Lwm2mServer } from '../../controller/lwm2m/lwm2m-server.js';
import { SimDevice } from '../../controller/sim/device/index.js';
import { FAST_TIMING, goodImage, MODEL, NEW, OLD, uniqueEndpoint } from './helpers/fixtures.js';
import { type FileServer, startHttpServer } from './helpers/image-servers.js';

let server: Lwm2mServer;
let http: FileServer;

beforeAll(async () => {
  server = await Lwm2mServer.start({ port: 0, host: '127.0.0.1', expirySweepMs: 0 });
  http = await startHttpServer(new Map([['/fw/good.otafw', goodImage]]));
});

afterAll(async () => {
  await Promise.all([server.stop(), http.close()]);
});

function value(result: { kind: string; records?: ResourceRecord[] }, path: string) {
  expect(result.kind).toBe('ok');
  return result.records?.find((r) => r.path === path)?.value;
}

describe("against otactl's own LwM2M server", () => {
  it('registers, downloads, updates and re-registers from a new port with the new version', async () => {
    const endpoint = uniqueEndpoint('real');
    const device = new SimDevice({
      endpoint,
      server: server.address(),
      model: MODEL,
      version: OLD,
      bindAddress: '127.0.0.1',
      timing: FAST_TIMING,
    });
    const registered = once(server, 'registered');
    await device.start();
    const [first] = await registered;
    expect(first.registration.endpoint).toBe(endpoint);
    const client = server.device(endpoint);
    expect(value(await client.read('/3/0/3'), '/3/0/3')).toBe(OLD);

    const states: number[] = [];
    let onDownloaded = () => {};
    const downloaded = new Promise<void>((resolve) => {
      onDownloaded = resolve;
    });
    const observation = await client.observe('/5/0/3', (n) => {
      if (n.kind !== 'ok') return;
      const s = n.records.find((r) => r.path === '/5/0/3')?.value;
      if (typeof s === 'number') states.push(s);
      if (s === 2) onDownloaded();
    });
    expect(observation.kind).toBe('ok');
    expect((await client.write('/5/0/1', `${http.baseUrl}/fw/good.otafw`)).kind).toBe('ok');
    await downloaded;
    expect(states.slice(-2)).toEqual([1, 2]);

    const again = once(server, 'registered');
    expect((await client.execute('/5/0/2')).kind).toBe('ok');
    const [second] = await again;
    expect(second.previous?.port).toBe(first.registration.port);
    expect(second.registration.port).not.toBe(first.registration.port);
    expect(value(await client.read('/3/0/3'), '/3/0/3')).toBe(NEW);
    expect(value(await client.read('/5/0'), '/5/0/5')).toBe(1);
    await device.stop();
  });
});
