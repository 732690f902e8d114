import type { dtls } from 'node-dtls-client';
import { afterEach, describe, expect, it } from 'vitest';
import { HandshakeType } from '../../controller/dtls/constants.js';
import {
  encodeHandshake,
  fragmentHandshake,
  parseHandshakeFragments,
} from '../../controller/dtls/handshake-codec.js';
import { encodeRecord, parseRecords } from '../../controller/dtls/record-codec.js';
import { TestServer } from './support/dtls-server.js';
import { ManualTimers } from './support/manual-timers.js';
import { connectNodeClient, type NodeClientCipher, nextMessage } from './support/node-client.js';
import { clientHello, cookieOf, helloFragments, RawPeer } from './support/raw-peer.js';
import { UdpRelay } from './support/udp-relay.js';

/** The 100,000; DTLS_FUZZ_DATAGRAMS runs more (or fewer) with DTLS_FUZZ_SEED to vary them. */
const DATAGRAMS = Number(process.env.DTLS_FUZZ_DATAGRAMS ?? 100_000);
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
const relays: UdpRelay[] = [];
const peers: RawPeer[] = [];
const clients: dtls.Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await Promise.all(relays.splice(0).map((r) => r.close()));
  await server?.close();
});

async function honestExchange(port: number, text: string, cipher?: NodeClientCipher): Promise<string> {
  const { socket, outcome } = await connectNodeClient(port, cipher === undefined ? {} : { cipher });
  clients.push(socket);
  expect(outcome).toBe('connected');
  const reply = nextMessage(socket);
  socket.send(Buffer.from(text));
  return reply;
}

describe('fuzzed datagrams', () => {
  it(`${DATAGRAMS} mutated and random datagrams in every state: no exception, bounded state, the next honest device is served`, async () => {
    const seed = Number(process.env.DTLS_FUZZ_SEED ?? 19);
    const random = prng(seed);
    const int = (n: number) => Math.floor(random() * n);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
    server = await TestServer.start({
      clock: new ManualTimers(),
      limits: { maxHandshakes: 32, maxHandshakesPerAddress: 8, maxSessions: 16 },
    });

    // Seeds: the datagrams of real sessions, one per suite (ClientHellos, key exchange flight,
    // application data). The sessions stay up: what is sent from a relay's port reaches one.
    for (const cipher of ['TLS_PSK_WITH_AES_128_CCM_8', 'TLS_PSK_WITH_AES_128_CBC_SHA256'] as const) {
      const relay = await UdpRelay.start(server.port);
      relays.push(relay);
      expect(await honestExchange(relay.port, 'seed', cipher)).toBe('pong:seed');
    }
    const corpus = relays.flatMap((relay) => relay.fromClient);

    // Fuzzing peers on several addresses, each with a handshake under way so mutations reach it.
    const fuzzers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => RawPeer.open(server!.port, `127.0.0.${i + 2}`)),
    );
    peers.push(...fuzzers);
    for (const f of fuzzers) {
      corpus.push(await f.handshakeWithCookie());
      await f.next();
    }
    corpus.push(clientHello(), clientHello({ padding: 300 }));
    const hellos = corpus.filter((datagram) => {
      const [record] = parseRecords(datagram);
      return (
        record?.epoch === 0 &&
        parseHandshakeFragments(record.fragment)?.[0]?.msgType === HandshakeType.clientHello
      );
    });

    const mutate = (): Buffer => {
      const base = Buffer.from(corpus[int(corpus.length)]!);
      switch (int(10)) {
        case 9: {
          // One fragment of a ClientHello split across datagrams (with or without its cookie).
          const pieces = helloFragments(hellos[int(hellos.length)]!, 1 + int(120));
          return pieces[int(pieces.length)]!;
        }
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
        // A third from the honest sessions' address and port, the rest from peers with handshakes.
        if (int(3) === 0) relays[int(relays.length)]!.inject(datagram);
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
