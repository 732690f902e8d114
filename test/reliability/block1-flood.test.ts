import { createSocket, type Socket } from 'node:dgram';
import { generate, parse } from 'coap-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from '../helpers/databases.js';
import type { ControllerProcess } from './harness/controller-process.js';
import { pgliteProcessDatabase, postgresProcessDatabase } from './harness/databases.js';
import { failOnCrash, ProcessScene } from './harness/process-scene.js';
import { sizeFromEnv } from './harness/seeded-random.js';
import { waitFor } from './harness/wait-for.js';

// Larger runs: OTACTL_BLOCK1_FLOOD_DATAGRAMS=200000 OTACTL_BLOCK1_FLOOD_RATE=10000
const DATAGRAMS = sizeFromEnv('OTACTL_BLOCK1_FLOOD_DATAGRAMS', 16_000);
const RATE = sizeFromEnv('OTACTL_BLOCK1_FLOOD_RATE', 2_000);
/** Flooding source addresses, 127.0.0.10 and up: together past the server-wide bounds (odd: both kinds of block from each). */
const SOURCES = 17;
/** A block claiming 16 bytes (SZX 0) and carrying this many: node-coap cached it whole. */
const OVERSIZED_BLOCK_BYTES = 32 * 1024;
/** Generous: the bounds hold 16 MiB of bodies; before them this flood held hundreds of MB. */
const MAX_RSS_GROWTH = 120 * 1024 * 1024;

function uintBuf(n: number): Buffer {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Buffer.from(out);
}

function registerBlock(
  endpoint: string,
  block: { num: number; more: boolean; szx: number },
  payload: Buffer,
  messageId: number,
): Buffer {
  return generate(
    {
      code: 'POST',
      confirmable: true,
      messageId,
      token: Buffer.from([messageId >> 8, messageId & 0xff]),
      options: [
        { name: 'Uri-Path', value: Buffer.from('rd') },
        { name: 'Uri-Query', value: Buffer.from(`ep=${endpoint}`) },
        { name: 'Block1', value: uintBuf(block.num * 16 + (block.more ? 8 : 0) + block.szx) },
      ],
      payload,
    },
    OVERSIZED_BLOCK_BYTES + 512,
  );
}

async function bind(host: string): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return socket;
}

/**
 * Unfinished block-wise Registers from SOURCES addresses at RATE per second: every other one a
 * first block that never gets a second, the others a 16-byte block carrying 32 KiB.
 */
async function flood(port: number): Promise<{ sent: number; answers: Map<string, number> }> {
  const sockets = await Promise.all(Array.from({ length: SOURCES }, (_, i) => bind(`127.0.0.${10 + i}`)));
  const answers = new Map<string, number>();
  for (const socket of sockets) {
    socket.on('message', (msg) => {
      try {
        const code = parse(msg).code;
        answers.set(code, (answers.get(code) ?? 0) + 1);
      } catch {
        answers.set('unparsable', (answers.get('unparsable') ?? 0) + 1);
      }
    });
  }
  const honest = Buffer.alloc(1024, 0x3c);
  const oversized = Buffer.alloc(OVERSIZED_BLOCK_BYTES, 0x3c);
  let sent = 0;
  const perTick = Math.max(1, Math.round(RATE / 100));
  while (sent < DATAGRAMS) {
    for (let i = 0; i < perTick && sent < DATAGRAMS; i++, sent++) {
      const socket = sockets[sent % SOURCES]!;
      const datagram =
        sent % 2 === 0
          ? registerBlock(`flood-${sent}`, { num: 0, more: true, szx: 6 }, honest, sent & 0xffff)
          : registerBlock(`flood-${sent}`, { num: 0, more: true, szx: 0 }, oversized, sent & 0xffff);
      socket.send(datagram, port, '127.0.0.1');
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // The last answers are in once their count stops growing (not every datagram need be answered).
  let counted = -1;
  let quiet = 0;
  await waitFor(
    'the answers to the flood to stop arriving',
    () => {
      const total = [...answers.values()].reduce((a, b) => a + b, 0);
      quiet = total === counted ? quiet + 1 : 0;
      counted = total;
      return total >= sent || quiet >= 3 ? true : undefined;
    },
    { intervalMs: 100, timeoutMs: 30_000 },
  );
  await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return { sent, answers };
}

/** A device on its own address registering with a link body sent in 64-byte blocks, one CON at a time. */
async function blockwiseRegister(port: number, endpoint: string): Promise<string[]> {
  const socket = await bind('127.0.0.2');
  try {
    const links: string[] = [];
    for (let i = 0; links.join(',').length < 600; i++) links.push(`</${3300 + i}/0>`);
    const body = Buffer.from(`</1/0>,</3/0>,</5/0>,${links.join(',')}`);
    const codes: string[] = [];
    for (let num = 0; num * 64 < body.length; num++) {
      const more = (num + 1) * 64 < body.length;
      const messageId = 40_000 + num;
      const datagram = registerBlock(
        endpoint,
        { num, more, szx: 2 },
        body.subarray(num * 64, (num + 1) * 64),
        messageId,
      );
      const answer = new Promise<string>((resolve) => {
        const onMessage = (msg: Buffer) => {
          const packet = parse(msg);
          if (packet.messageId !== messageId) return;
          socket.off('message', onMessage);
          resolve(packet.code);
        };
        socket.on('message', onMessage);
      });
      socket.send(datagram, port, '127.0.0.1');
      codes.push(await answer);
    }
    return codes;
  } finally {
    socket.close();
  }
}

/**
 * The controller's RSS once start-up has settled (the embedded database's start-up allocations are
 * returned a few seconds in): sampled until three readings in a row are within 4 MB.
 */
async function settledRss(controller: ControllerProcess): Promise<number> {
  let previous = (await controller.rssBytes()) ?? 0;
  let steady = 0;
  return waitFor(
    'the controller RSS to settle',
    async () => {
      const rss = (await controller.rssBytes()) ?? 0;
      steady = Math.abs(rss - previous) < 4 * 1024 * 1024 ? steady + 1 : 0;
      previous = rss;
      return steady >= 3 ? rss : undefined;
    },
    { intervalMs: 500, timeoutMs: 30_000 },
  );
}

describe('the LwM2M port under a flood of unfinished block-wise Registers', () => {
  let scene: ProcessScene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('holds bounded memory, answers the bad blocks, and still registers a device sending its body in blocks', async () => {
    // Postgres when there is one: the embedded database's own start-up memory would blur the figure.
    const db = TEST_DATABASE_URL ? await postgresProcessDatabase() : await pgliteProcessDatabase();
    scene = await ProcessScene.create({ db });
    const controller = await scene.startController();
    const crashed = failOnCrash(controller, 'otactl run died under the Block1 flood');
    const coapPort = scene.options.coapPort;
    const rssBefore = await settledRss(controller);

    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      void controller.rssBytes().then((rss) => {
        if (rss !== undefined) rssPeak = Math.max(rssPeak, rss);
      });
    }, 200);
    let report: Awaited<ReturnType<typeof flood>>;
    try {
      report = await Promise.race([flood(coapPort), crashed]);
    } finally {
      clearInterval(sampler);
    }
    const rssAfter = (await controller.rssBytes()) ?? 0;
    rssPeak = Math.max(rssPeak, rssAfter);
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
    console.info(
      `block1 flood: ${report.sent} datagrams (${SOURCES} sources, ${RATE}/s); RSS ${mb(rssBefore)} -> peak ${mb(rssPeak)}, ` +
        `after ${mb(rssAfter)}; answers ${JSON.stringify(Object.fromEntries(report.answers))}`,
    );
    expect(report.sent).toBe(DATAGRAMS);
    expect(rssPeak - rssBefore, `RSS ${rssBefore} -> peak ${rssPeak} bytes`).toBeLessThan(MAX_RSS_GROWTH);
    // Blocks longer than their size are refused; first blocks are answered 2.31 or, past an address's bound, 4.29.
    expect(report.answers.get('4.00') ?? 0).toBeGreaterThan(0);
    expect(report.answers.get('5.00') ?? 0).toBe(0);

    // The flood's transfers are still held (they expire after the exchange lifetime), yet a device
    // from another address registers with a body in blocks.
    const codes = await Promise.race([blockwiseRegister(coapPort, 'after-flood'), crashed]);
    expect(codes.at(-1)).toBe('2.01');
    expect(codes.slice(0, -1).every((code) => code === '2.31')).toBe(true);
    await Promise.race([
      waitFor(
        'the device registered after the flood to be listed',
        async () => {
          const res = await controller.get('/api/v1/devices/after-flood');
          await res.arrayBuffer();
          return res.status === 200 ? true : undefined;
        },
        { intervalMs: 200, timeoutMs: 20_000 },
      ),
      crashed,
    ]);
    expect(controller.alive).toBe(true);
    expect(controller.lines.filter((line) => (line.level ?? 0) >= 50)).toEqual([]);
  }, 180_000);
});
