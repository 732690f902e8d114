import type { dtls } from 'node-dtls-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeHandshake,
  fragmentHandshake,
  parseHandshakeFragments,
} from '../../controller/dtls/handshake-codec.js';
import { encodeRecord, parseRecords } from '../../controller/dtls/record-codec.js';
import { TestServer } from './support/dtls-server.js';
import { ManualTimers } from './support/manual-timers.js';
import { connectNodeClient, nextMessage } from './support/node-client.js';
import { clientHello, cookieOf, RawPeer } from './support/raw-peer.js';
import { UdpRelay } from './support/udp-relay.js';

const DATAGRAMS = 20_000;
const BATCH = 50;

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let server: TestServer | undefined;
let relay: UdpRelay | undefined;
const peers: RawPeer[] = [];
const clients: dtls.Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await relay?.close();
  await server?.close();
});

async function honestExchange(port: number, text: string): Promise<string> {
  const { socket, outcome } = await connectNodeClient(port);
  clients.push(socket);
  expect(outcome).toBe('connected');
  const reply = nextMessage(socket);
  socket.send(Buffer.from(text));
  return reply;
}

describe('fuzzed datagrams', () => {
  it(`${DATAGRAMS} mutated and random datagrams: no exception, bounded state, the next honest device is served`, async () => {
    const seed = Number(process.env.DTLS_FUZZ_SEED ?? 19);
    const random = prng(seed);
    const int = (n: number) => Math.floor(random() * n);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
    server = await TestServer.start({
      clock: new ManualTimers(),
      limits: { maxHandshakes: 32, maxHandshakesPerAddress: 8, maxSessions: 16 },
    });

    // Seeds: a real session's datagrams (ClientHellos, key exchange flight, application data).
    relay = await UdpRelay.start(server.port);
    expect(await honestExchange(relay.port, 'seed')).toBe('pong:seed');
    const corpus = [...relay.fromClient];

    // Fuzzing peers on several addresses, each with a handshake under way so mutations reach it.
    const fuzzers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => RawPeer.open(server!.port, `127.0.0.${i + 2}`)),
    );
    peers.push(...fuzzers);
    for (const f of fuzzers) {
      corpus.push(await f.handshakeWithCookie());
      await f.next();
    }
    corpus.push(clientHello());

    const mutate = (): Buffer => {
      const base = Buffer.from(corpus[int(corpus.length)]!);
      switch (int(9)) {
        case 8: {
          // Handshake messages split into several fragments within their record, in a random order.
          const records = parseRecords(base).map((record) => {
            const fragments = record.epoch === 0 ? parseHandshakeFragments(record.fragment) : undefined;
            if (fragments === undefined) return encodeRecord(record);
            const pieces = fragments.flatMap((f) =>
              fragmentHandshake(encodeHandshake(f.msgType, f.messageSeq, f.body), 1 + int(f.body.length + 1)),
            );
            pieces.sort(() => random() - 0.5);
            return encodeRecord({ ...record, fragment: Buffer.concat(pieces) });
          });
          return Buffer.concat(records);
        }
        case 0:
          return bytes(int(300));
        case 1: {
          for (let i = 1 + int(4); i > 0 && base.length > 0; i--) base[int(base.length)]! ^= 1 << int(8);
          return base;
        }
        case 2:
          return base.subarray(0, int(base.length + 1));
        case 3:
          return Buffer.concat([base, bytes(int(64))]);
        case 4: {
          // Header fields: type, version, epoch, sequence number, length.
          if (base.length >= 13) base.writeUInt16BE(int(65536), [1, 3, 5, 9, 11][int(5)]!);
          if (base.length >= 1 && int(2) === 0) base[0] = 20 + int(6);
          return base;
        }
        case 5: {
          // Handshake header fields: length, message_seq, fragment offset and length.
          if (base.length >= 25) base.writeUIntBE(int(1 << 24), [14, 19, 22][int(3)]!, 3);
          if (base.length >= 19 && int(2) === 0) base.writeUInt16BE(int(8), 17);
          return base;
        }
        case 6:
          return Buffer.concat([base, corpus[int(corpus.length)]!]);
        default:
          return Buffer.concat([base.subarray(0, int(base.length + 1)), bytes(int(40))]);
      }
    };

    const probe = await RawPeer.open(server.port, '127.0.0.10');
    peers.push(probe);
    for (let sent = 0; sent < DATAGRAMS; sent += BATCH) {
      for (let i = 0; i < BATCH; i++) {
        const datagram = mutate();
        if (int(3) === 0) relay.inject(datagram);
        else fuzzers[int(fuzzers.length)]!.send(datagram);
      }
      // The server reads its socket in order: the probe's answer means the batch has been read.
      probe.send(clientHello());
      expect(cookieOf(await probe.next())).toBeDefined();
    }

    const stats = server.endpoint.stats();
    expect(stats.internalErrors).toBe(0);
    expect(stats.handshakes).toBeLessThanOrEqual(32);
    expect(stats.sessions).toBeLessThanOrEqual(16);
    expect(stats.addresses).toBeLessThanOrEqual(8);
    expect(await honestExchange(server.port, 'after')).toBe('pong:after');
    expect(server.endpoint.stats().internalErrors).toBe(0);
  });
});
