import { randomBytes } from 'node:crypto';
import type { dtls } from 'node-dtls-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ContentType, HandshakeType } from '../../controller/dtls/constants.js';
import {
  encodeHandshake,
  fragmentHandshake,
  parseHandshakeFragments,
} from '../../controller/dtls/handshake-codec.js';
import { encodeRecord, parseRecords } from '../../controller/dtls/record-codec.js';
import { TestServer, waitFor } from './support/dtls-server.js';
import { connectNodeClient, type NodeClientOptions, nextMessage } from './support/node-client.js';
import { clientHello, cookieOf } from './support/raw-peer.js';
import { UdpRelay } from './support/udp-relay.js';

let server: TestServer;
let relay: UdpRelay | undefined;
const sockets: dtls.Socket[] = [];

async function connect(port: number, opts: NodeClientOptions = {}) {
  const client = await connectNodeClient(port, opts);
  sockets.push(client.socket);
  return client;
}

afterEach(async () => {
  for (const socket of sockets.splice(0)) {
    try {
      socket.close();
    } catch {
      // already closed by an alert
    }
  }
  await relay?.close();
  relay = undefined;
  await server?.close();
});

describe('interop with node-dtls-client 1.1.1', () => {
  for (const cipher of ['TLS_PSK_WITH_AES_128_CCM_8', 'TLS_PSK_WITH_AES_128_CBC_SHA256'] as const) {
    it(`${cipher}: handshake and data both ways`, async () => {
      server = await TestServer.start();
      const session = waitFor(server.endpoint, 'session');
      const { socket, outcome } = await connect(server.port, { cipher });
      expect(outcome).toBe('connected');
      const [peer, info] = await session;
      expect(peer.identity.toString()).toBe('device-2');
      expect(info.cipherSuite).toBe(cipher);
      const reply = nextMessage(socket);
      socket.send(Buffer.from('hello'));
      expect(await reply).toBe('pong:hello');
      expect(server.received.map((r) => [r.text, r.peer.identity.toString()])).toEqual([
        ['hello', 'device-2'],
      ]);
      // Server-initiated datagrams go through the session too (a downlink request to a device).
      const pushed = nextMessage(socket);
      expect(server.endpoint.send(Buffer.from('downlink'), peer.port, peer.address)).toBe(true);
      expect(await pushed).toBe('downlink');
    });
  }

  it('refuses a wrong key: the client gets an alert, the server keeps nothing', async () => {
    server = await TestServer.start();
    const failure = waitFor(server.endpoint, 'handshakeFailure');
    const { outcome } = await connect(server.port, { key: 'not-the-key-0002' });
    expect(outcome).toMatch(/bad_record_mac/);
    expect((await failure)[1]).toMatch(/wrong key or unknown identity/);
    expect(server.endpoint.stats()).toMatchObject({ sessions: 0, handshakes: 0 });
  });

  it('refuses to send to a peer without a session', async () => {
    server = await TestServer.start();
    let error: Error | null = null;
    const done = new Promise<void>((resolve) => {
      expect(
        server.endpoint.send(Buffer.from('x'), 9, '127.0.0.1', (err) => {
          error = err;
          resolve();
        }),
      ).toBe(false);
    });
    await done;
    expect(error).toBeInstanceOf(Error);
  });

  it('drops a replayed application record and a record with a bad MAC; the session goes on', async () => {
    server = await TestServer.start();
    relay = await UdpRelay.start(server.port);
    const { socket, outcome } = await connect(relay.port);
    expect(outcome).toBe('connected');
    const first = nextMessage(socket);
    socket.send(Buffer.from('once'));
    expect(await first).toBe('pong:once');
    const appRecord = relay.fromClient.find((d) => parseRecords(d)[0]?.type === ContentType.applicationData)!;
    expect(appRecord).toBeDefined();

    // Replayed: same epoch and sequence number. Flipped: one ciphertext bit. Neither is delivered.
    relay.inject(appRecord);
    const flipped = Buffer.from(appRecord);
    flipped[flipped.length - 3]! ^= 0x10;
    relay.inject(flipped);
    // A fresh record afterwards is delivered, and is the only one besides the first.
    const second = nextMessage(socket);
    socket.send(Buffer.from('twice'));
    expect(await second).toBe('pong:twice');
    expect(server.received.map((r) => r.text)).toEqual(['once', 'twice']);
    expect(server.endpoint.stats()).toMatchObject({ sessions: 1, internalErrors: 0 });
  });

  it('reassembles a ClientKeyExchange that comes in fragments, in separate records', async () => {
    server = await TestServer.start();
    relay = await UdpRelay.start(server.port);
    let split = 0;
    relay.tamper = (datagram) => {
      const out: Buffer[] = [];
      for (const record of parseRecords(datagram)) {
        const [fragment] = parseHandshakeFragments(record.fragment) ?? [];
        if (record.epoch !== 0 || fragment?.msgType !== HandshakeType.clientKeyExchange) {
          out.push(encodeRecord(record));
          continue;
        }
        // The second half first, each half in a record of its own (a later sequence number).
        const message = encodeHandshake(fragment.msgType, fragment.messageSeq, fragment.body);
        const pieces = fragmentHandshake(message, Math.ceil(fragment.body.length / 2));
        expect(pieces).toHaveLength(2);
        out.push(encodeRecord({ ...record, seq: record.seq + 40, fragment: pieces[1]! }));
        out.push(encodeRecord({ ...record, fragment: pieces[0]! }));
        split++;
      }
      return Buffer.concat(out);
    };
    const { socket, outcome } = await connect(relay.port);
    expect(outcome).toBe('connected');
    expect(split).toBe(1);
    const reply = nextMessage(socket);
    socket.send(Buffer.from('whole'));
    expect(await reply).toBe('pong:whole');
  });

  it('a late copy of the ClientHello after the handshake starts nothing new', async () => {
    server = await TestServer.start();
    relay = await UdpRelay.start(server.port);
    const { socket, outcome } = await connect(relay.port);
    expect(outcome).toBe('connected');
    const withCookie = relay.fromClient.find((d) => cookieOf(d) === undefined && isClientHelloWithCookie(d))!;
    expect(withCookie).toBeDefined();
    relay.inject(withCookie);
    const reply = nextMessage(socket);
    socket.send(Buffer.from('still here'));
    expect(await reply).toBe('pong:still here');
    expect(server.endpoint.stats()).toMatchObject({ sessions: 1, handshakes: 0 });
  });

  it("keeps delivering a session's records while a new handshake from its address and port is under way", async () => {
    server = await TestServer.start();
    relay = await UdpRelay.start(server.port);
    const { socket, outcome } = await connect(relay.port);
    expect(outcome).toBe('connected');
    const before = nextMessage(socket);
    socket.send(Buffer.from('before'));
    expect(await before).toBe('pong:before');
    // Someone at the same address and port (the relay's) starts a handshake; its answers stay here.
    relay.holdFromServer = true;
    const random = randomBytes(32);
    relay.inject(clientHello({ random }));
    const cookie = cookieOf(await relay.nextFromServer());
    relay.inject(clientHello({ random, cookie, messageSeq: 1, recordSeq: 1 }));
    await relay.nextFromServer(); // ServerHello, ServerHelloDone
    expect(server.endpoint.stats()).toMatchObject({ sessions: 1, handshakes: 1 });
    relay.holdFromServer = false;
    const during = nextMessage(socket);
    socket.send(Buffer.from('during'));
    expect(await during).toBe('pong:during');
    expect(server.received.map((r) => r.text)).toEqual(['before', 'during']);
    expect(server.endpoint.stats()).toMatchObject({ sessions: 1, handshakes: 1 });
  });
});

function isClientHelloWithCookie(datagram: Buffer): boolean {
  const [record] = parseRecords(datagram);
  const [fragment] =
    record?.type === ContentType.handshake ? (parseHandshakeFragments(record.fragment) ?? []) : [];
  return (
    fragment?.msgType === HandshakeType.clientHello && fragment.body[2 + 32 + 1 + fragment.body[34]!] !== 0
  );
}
