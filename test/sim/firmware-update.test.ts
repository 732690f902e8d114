import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimDevice } from '../../controller/sim/device/index.js';
import { goodImage, MODEL, NEW, OLD, otherModelImage, startDevice } from './helpers/fixtures.js';
import {
  type FileServer,
  generateTestPki,
  startCoapBlockServer,
  startHttpServer,
  startHttpsServer,
  type TestPki,
} from './helpers/image-servers.js';
import { type ServerEvent, TestLwm2mServer } from './helpers/test-lwm2m-server.js';

const files = new Map([
  ['/fw/good.otafw', goodImage],
  ['/fw/other-model.otafw', otherModelImage],
  ['/fw/garbage.bin', Buffer.from('not an image at all')],
  ['/fw/truncated.otafw', goodImage.subarray(0, goodImage.length - 10)],
]);

let server: TestLwm2mServer;
let http: FileServer;
let https: FileServer;
let coap: FileServer & { blocks: number };
let pki: TestPki;

beforeAll(async () => {
  server = await TestLwm2mServer.start();
  pki = await generateTestPki();
  [http, https, coap] = await Promise.all([
    startHttpServer(files),
    startHttpsServer(files, pki),
    startCoapBlockServer(files),
  ]);
});

afterAll(async () => {
  await Promise.all([server.close(), http.close(), https.close(), coap.close()]);
});

async function readInt(endpoint: string, path: string): Promise<number> {
  const r = await server.read(endpoint, path);
  expect(r.code).toBe('2.05');
  return Number(r.payload.toString());
}

async function readText(endpoint: string, path: string): Promise<string> {
  const r = await server.read(endpoint, path);
  expect(r.code).toBe('2.05');
  return r.payload.toString();
}

function isRegisterOf(endpoint: string) {
  return (e: ServerEvent) => e.kind === 'register' && e.registration.endpoint === endpoint;
}

/** The pull flow as a server drives it: write URI, wait Downloaded, execute, wait for the new registration. */
async function updateOver(device: SimDevice, uri: string, settles: (s: number, r: number) => Promise<void>) {
  const ep = device.endpoint;
  const before = server.registrations.get(ep)!;
  const observation = await server.observe(ep, '/5/0');
  expect(observation.first.code).toBe('2.05');
  expect((await server.writeText(ep, '/5/0/1', uri)).code).toBe('2.04');
  await settles(2, 0);
  expect(await readInt(ep, '/5/0/3')).toBe(2);
  expect(await readText(ep, '/5/0/7')).toBe(NEW);
  const reregistered = server.waitFor(isRegisterOf(ep));
  expect((await server.execute(ep, '/5/0/2')).code).toBe('2.04');
  const after = (await reregistered).registration;
  await settles(0, 1);
  expect(after.port).not.toBe(before.port);
  expect(await readText(ep, '/3/0/3')).toBe(NEW);
  expect(await readInt(ep, '/5/0/3')).toBe(0);
  expect(await readInt(ep, '/5/0/5')).toBe(1);
  observation.close();
}

describe('pull-mode firmware update', () => {
  it('downloads over HTTP, verifies, updates, reboots to a new port and reports the new version', async () => {
    const { device, settles } = await startDevice(server);
    expect(await readText(device.endpoint, '/3/0/3')).toBe(OLD);
    await updateOver(device, `${http.baseUrl}/fw/good.otafw`, settles);
    expect(http.requests).toContain('/fw/good.otafw');
    await device.stop();
  });

  it('downloads over HTTPS trusting the CA it was given', async () => {
    const { device, settles } = await startDevice(server, { ca: pki.caPem });
    await updateOver(device, `${https.baseUrl}/fw/good.otafw`, settles);
    await device.stop();
  });

  it('fails an HTTPS download with Result 4 when the CA is not trusted', async () => {
    const { device, settles } = await startDevice(server);
    await server.writeText(device.endpoint, '/5/0/1', `${https.baseUrl}/fw/good.otafw`);
    await settles(0, 4);
    await device.stop();
  });

  it('fails a download the server resets with Result 4, and tells its fleet why', async () => {
    const resetting = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => resetting.listen(0, '127.0.0.1', resolve));
    const { port } = resetting.address() as AddressInfo;
    const { device, settles, events } = await startDevice(server);
    await server.writeText(device.endpoint, '/5/0/1', `http://127.0.0.1:${port}/fw/good.otafw`);
    await settles(0, 4);
    expect(events.filter((e) => e.kind === 'download-failed')).toEqual([
      { kind: 'download-failed', endpoint: device.endpoint, detail: expect.stringContaining('ECONNRESET') },
    ]);
    await device.stop();
    await new Promise((resolve) => resetting.close(resolve));
  });

  it('downloads over CoAP block-wise (Block2)', async () => {
    const { device, settles } = await startDevice(server);
    const blocksBefore = coap.blocks;
    await updateOver(device, `${coap.baseUrl}/fw/good.otafw`, settles);
    expect(coap.blocks - blocksBefore).toBe(Math.ceil(goodImage.length / 1024));
    await device.stop();
  });

  it('notifies an observer of /5/0/3 with increasing sequence numbers on every State change', async () => {
    const { device, settles } = await startDevice(server);
    const obs = await server.observe(device.endpoint, '/5/0/3');
    expect(obs.first.payload.toString()).toBe('0');
    await server.writeText(device.endpoint, '/5/0/1', `${http.baseUrl}/fw/good.otafw`);
    await settles(2, 0);
    await obs.next();
    expect((await obs.next()).payload.toString()).toBe('1');
    expect((await obs.next()).payload.toString()).toBe('2');
    const seqs = obs.notifications.map((n) => n.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    obs.close();
    await device.stop();
  });

  it('refuses an image for another model with Result 6', async () => {
    const { device, settles } = await startDevice(server);
    await server.writeText(device.endpoint, '/5/0/1', `${http.baseUrl}/fw/other-model.otafw`);
    await settles(0, 6);
    expect(device.firmwareVersion).toBe(OLD);
    await device.stop();
  });

  it('detects a corrupted (truncated) image with Result 5', async () => {
    const { device, settles } = await startDevice(server);
    await server.writeText(device.endpoint, '/5/0/1', `${http.baseUrl}/fw/truncated.otafw`);
    await settles(0, 5);
    await device.stop();
  });

  it('treats something that is no image at all as an unsupported package (Result 6)', async () => {
    const { device, settles } = await startDevice(server);
    await server.writeText(device.endpoint, '/5/0/1', `${http.baseUrl}/fw/garbage.bin`);
    await settles(0, 6);
    await device.stop();
  });

  it('answers a missing file (HTTP 404) with Result 7', async () => {
    const { device, settles } = await startDevice(server);
    await server.writeText(device.endpoint, '/5/0/1', `${http.baseUrl}/fw/none.otafw`);
    await settles(0, 7);
    await device.stop();
  });

  it('refuses a malformed URI with Result 7 and a scheme it does not list in 5/0/8 with Result 9', async () => {
    const { device, settles } = await startDevice(server, { protocols: [0] });
    await server.writeText(device.endpoint, '/5/0/1', 'not a uri');
    await settles(0, 7);
    const requestsBefore = http.requests.length;
    await server.writeText(device.endpoint, '/5/0/1', `${http.baseUrl}/fw/good.otafw`);
    await settles(0, 9);
    expect(http.requests.length).toBe(requestsBefore);
    await server.writeText(device.endpoint, '/5/0/1', 'ftp://127.0.0.1/fw/good.otafw');
    await settles(0, 9);
    await device.stop();
  });

  it('allows Execute 5/0/2 only in State 2 (4.05 otherwise)', async () => {
    const { device } = await startDevice(server);
    expect((await server.execute(device.endpoint, '/5/0/2')).code).toBe('4.05');
    expect(device.state).toBe(0);
    await device.stop();
  });

  it('resets to State 0 Result 0 when an empty Package URI is written', async () => {
    const { device, settles } = await startDevice(server);
    await server.writeText(device.endpoint, '/5/0/1', `${http.baseUrl}/fw/good.otafw`);
    await settles(2, 0);
    expect((await server.writeText(device.endpoint, '/5/0/1', '')).code).toBe('2.04');
    await settles(0, 0);
    expect(await readInt(device.endpoint, '/5/0/3')).toBe(0);
    expect((await server.execute(device.endpoint, '/5/0/2')).code).toBe('4.05');
    await device.stop();
  });

  it('cancels with 5/0/10 before Updating: State 0, Result 10', async () => {
    const { device, settles } = await startDevice(server);
    await server.writeText(device.endpoint, '/5/0/1', `${http.baseUrl}/fw/good.otafw`);
    await settles(2, 0);
    expect((await server.execute(device.endpoint, '/5/0/10')).code).toBe('2.04');
    await settles(0, 10);
    expect(await readInt(device.endpoint, '/5/0/5')).toBe(10);
    expect((await server.execute(device.endpoint, '/5/0/2')).code).toBe('4.05');
    await device.stop();
  });

  it('cancels a download in progress', async () => {
    const { device, settles } = await startDevice(server, {
      faults: new Map([['silent-download', undefined]]),
    });
    await server.writeText(device.endpoint, '/5/0/1', `${http.baseUrl}/fw/good.otafw`);
    expect(await readInt(device.endpoint, '/5/0/3')).toBe(1);
    expect((await server.execute(device.endpoint, '/5/0/10')).code).toBe('2.04');
    await settles(0, 10);
    await device.stop();
  });

  it('de-registers before the reboot when configured to', async () => {
    const { device, settles } = await startDevice(server, { deregisterOnReboot: true });
    const ep = device.endpoint;
    await server.writeText(ep, '/5/0/1', `${http.baseUrl}/fw/good.otafw`);
    await settles(2, 0);
    const start = server.log.length;
    const reregistered = server.waitFor(isRegisterOf(ep));
    await server.execute(ep, '/5/0/2');
    await reregistered;
    const kinds = server.log
      .slice(start)
      .filter((e) => e.registration.endpoint === ep)
      .map((e) => e.kind);
    expect(kinds).toEqual(['deregister', 'register']);
    await device.stop();
  });

  it('reports the model and the image version it runs', async () => {
    const { device } = await startDevice(server);
    expect(await readText(device.endpoint, '/3/0/1')).toBe(MODEL);
    await device.stop();
  });
});
