import { randomBytes } from 'node:crypto';
import type { ParsedPacket } from 'coap-packet';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeBlock } from '../../controller/coap/block-option.js';
import { buildFirmwareCatalog } from '../../controller/firmware/build-catalog.js';
import type { FirmwareCatalog } from '../../controller/firmware/catalog.js';
import { createFirmwareCoapHandler } from '../../controller/firmware/coap/handler.js';
import {
  REGISTERED_SOURCE,
  SourceBudget,
  UNREGISTERED_SOURCE,
} from '../../controller/firmware/coap/source-budget.js';
import { Lwm2mServer } from '../../controller/lwm2m/lwm2m-server.js';
import { RawDevice } from '../lwm2m/support/raw-device.js';
import { type FirmwareDir, makeFirmwareDir, writeImage } from './helpers.js';
import { optionOf, RawCoapClient } from './raw-coap-client.js';

const IMAGE = 'big-2.0.0.bin';
const IMAGE_BYTES = 300 * 1024;

let fw: FirmwareDir;
let catalog: FirmwareCatalog;
let server: Lwm2mServer;
let now = 0;
const clients: { close(): unknown }[] = [];

beforeAll(async () => {
  fw = await makeFirmwareDir();
  const image = await writeImage(fw.dir, IMAGE, IMAGE_BYTES);
  ({ catalog } = await buildFirmwareCatalog(fw.dir, [{ file: IMAGE, sha256: image.sha256 }]));
});

afterAll(async () => {
  await fw?.remove();
});

/** The controller's wiring: /fw/ on the LwM2M socket, sources with a registered device budgeted apart. */
async function startServer(pool = { bytesPerSecond: 512 * 1024, burstBytes: 1024 * 1024 }): Promise<void> {
  server = await Lwm2mServer.start({ port: 0, host: '127.0.0.1', expirySweepMs: 0 });
  const registered = server;
  server.addRoute(
    '/fw/',
    createFirmwareCoapHandler({
      catalog,
      now: () => now,
      budget: new SourceBudget({
        classify: (source) =>
          registered.hasRegistrationFrom(source) ? REGISTERED_SOURCE : UNREGISTERED_SOURCE,
        pool,
        now: () => now,
      }),
    }),
  );
}

beforeEach(() => {
  now = 1_000_000;
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  await server?.stop();
});

async function client(host: string): Promise<RawCoapClient> {
  const c = await RawCoapClient.open(server.address().port, host);
  clients.push(c);
  return c;
}

function block(c: RawCoapClient, num: number): Promise<ParsedPacket> {
  return c.get(['fw', IMAGE], {
    token: randomBytes(4),
    block2: encodeBlock({ num, more: false, szx: 6 }),
  });
}

/** Asks for blocks 0, 1, 2, ... until one is refused; the bytes of the blocks served and the refusal. */
async function drain(
  c: RawCoapClient,
  limit = IMAGE_BYTES / 1024,
): Promise<{ bytes: number; refusal?: ParsedPacket }> {
  let bytes = 0;
  for (let num = 0; num < limit; num++) {
    const answer = await block(c, num);
    if (answer.code !== '2.05') return { bytes, refusal: answer };
    bytes += answer.payload.length;
  }
  return { bytes };
}

function maxAgeOf(packet: ParsedPacket): number | undefined {
  const value = optionOf(packet, 'Max-Age');
  return value === undefined ? undefined : value.length === 0 ? 0 : value.readUIntBE(0, value.length);
}

describe('CoAP firmware: response bytes per source address', () => {
  it('answers 4.29 with Max-Age once an unregistered source has used its budget, and serves it again later', async () => {
    await startServer();
    const spoofed = await client('127.0.0.1');
    const { bytes, refusal } = await drain(spoofed);
    expect(refusal?.code).toBe('4.29');
    expect(refusal?.payload.length).toBe(0);
    expect(bytes).toBeLessThanOrEqual(UNREGISTERED_SOURCE.rate.burstBytes);
    expect(bytes).toBeGreaterThanOrEqual(UNREGISTERED_SOURCE.rate.burstBytes / 2);
    const maxAge = maxAgeOf(refusal as ParsedPacket) ?? 0;
    expect(maxAge).toBeGreaterThanOrEqual(1);

    now += maxAge * 1000;
    expect((await block(spoofed, 70)).code).toBe('2.05');
  });

  it('keeps serving other sources while one is over budget', async () => {
    await startServer();
    const greedy = await client('127.0.0.1');
    expect((await drain(greedy)).refusal?.code).toBe('4.29');
    const other = await client('127.0.0.2');
    expect((await block(other, 0)).code).toBe('2.05');
  });

  it('bounds what many unregistered sources get together', async () => {
    await startServer({ bytesPerSecond: 1024, burstBytes: 80 * 1024 });
    const first = await client('127.0.0.2');
    const second = await client('127.0.0.3');
    const a = await drain(first);
    const b = await drain(second);
    expect(a.refusal?.code).toBe('4.29');
    expect(b.refusal?.code).toBe('4.29');
    expect(a.bytes + b.bytes).toBeLessThanOrEqual(80 * 1024);
  });

  it('lets a source with a registered device download a whole image at once', async () => {
    await startServer();
    const device = await RawDevice.open(server.address().port, { address: '127.0.0.4' });
    clients.push(device);
    expect((await device.register(['ep=budgeted'])).code).toBe('2.01');
    const downloader = await client('127.0.0.4');
    const { bytes, refusal } = await drain(downloader);
    expect(refusal).toBeUndefined();
    expect(bytes).toBe(IMAGE_BYTES);
  });
});

describe('SourceBudget', () => {
  it('remembers at most maxSources addresses, forgetting the least recently seen', () => {
    const budget = new SourceBudget({ maxSources: 3, now: () => 0 });
    for (let i = 0; i < 100; i++) budget.take(`10.0.0.${i}`, 100);
    expect(budget.sources).toBe(3);
  });

  it('refuses without spending: a refused take leaves the tokens for a smaller one', () => {
    const budget = new SourceBudget({
      classify: () => ({ rate: { bytesPerSecond: 100, burstBytes: 1000 }, pooled: false }),
      now: () => 0,
    });
    expect(budget.take('a', 900).kind).toBe('granted');
    expect(budget.take('a', 200)).toEqual({ kind: 'refused', retryAfterMs: 1000 });
    expect(budget.take('a', 100).kind).toBe('granted');
  });
});
