import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { dtls } from 'node-dtls-client';
import { afterEach, describe, expect, it } from 'vitest';
import { AlertLevel, ContentType, DTLS_1_2, HandshakeType } from '../../controller/dtls/constants.js';
import { CookieJar } from '../../controller/dtls/cookie.js';
import { parseClientHello, parseHandshakeFragments } from '../../controller/dtls/handshake-codec.js';
import { DtlsEndpoint, type DtlsEndpointOptions } from '../../controller/dtls/index.js';
import { encodeRecord, parseRecords } from '../../controller/dtls/record-codec.js';
import { KEYS, TestServer, waitFor } from './support/dtls-server.js';
import { ManualTimers } from './support/manual-timers.js';
import { connectNodeClient, nextMessage } from './support/node-client.js';
import { clientHello, cookieOf, RawPeer } from './support/raw-peer.js';
import { UdpRelay } from './support/udp-relay.js';

let server: TestServer | undefined;
let endpoint: DtlsEndpoint | undefined;
let relay: UdpRelay | undefined;
const peers: RawPeer[] = [];
const clients: dtls.Socket[] = [];

async function peer(port: number, address?: string): Promise<RawPeer> {
  const p = await RawPeer.open(port, address);
  peers.push(p);
  return p;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await relay?.close();
  relay = undefined;
  await server?.close();
  await endpoint?.close({ notify: false });
  server = undefined;
  endpoint = undefined;
});

/** An endpoint whose socket counts the datagrams it sends to each port, as they are sent. */
async function countingEndpoint(opts: Partial<Omit<DtlsEndpointOptions, 'socket'>>) {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const sent = new Map<number, number>();
  const send = socket.send.bind(socket) as (...args: unknown[]) => void;
  (socket as unknown as { send: (...args: unknown[]) => void }).send = (...args: unknown[]) => {
    const port = args[1] as number;
    sent.set(port, (sent.get(port) ?? 0) + 1);
    send(...args);
  };
  endpoint = new DtlsEndpoint({ sweepMs: 0, lookupPsk: async (id) => KEYS[id.toString()], ...opts, socket });
  return { endpoint, sent, port: socket.address().port };
}

async function nodeClient(port: number): Promise<dtls.Socket> {
  const { socket, outcome } = await connectNodeClient(port);
  clients.push(socket);
  if (outcome !== 'connected') throw new Error(outcome);
  return socket;
}

describe('no state before a valid cookie', () => {
  it('a ClientHello flood from many addresses gets HelloVerifyRequests and leaves nothing behind', async () => {
    server = await TestServer.start();
    const flooders = await Promise.all(
      Array.from({ length: 20 }, (_, i) => peer(server!.port, `127.0.0.${i + 2}`)),
    );
    for (let round = 0; round < 40; round++) {
      for (const f of flooders) {
        // Half without a cookie, half with a forged one.
        f.send(clientHello({ cookie: round % 2 === 0 ? undefined : randomBytes(20), recordSeq: round }));
      }
      const replies = await Promise.all(flooders.map((f) => f.next()));
      for (const reply of replies) expect(cookieOf(reply)).toHaveLength(20);
    }
    expect(server.endpoint.stats()).toEqual({
      sessions: 0,
      handshakes: 0,
      resumable: 0,
      addresses: 0,
      helloVerifyRequests: 800,
      internalErrors: 0,
    });
  });

  it('a cookie is bound to the address and port it was given to', async () => {
    server = await TestServer.start();
    const a = await peer(server.port);
    const b = await peer(server.port);
    const random = randomBytes(32);
    a.send(clientHello({ random }));
    const cookie = cookieOf(await a.next())!;
    b.send(clientHello({ random, cookie, messageSeq: 1, recordSeq: 1 }));
    expect(cookieOf(await b.next())).toBeDefined(); // another HelloVerifyRequest, no ServerHello
    expect(server.endpoint.stats().handshakes).toBe(0);
  });

  it('the cookie secret rotates; the previous one is still accepted, the one before is not', () => {
    let now = 0;
    const jar = new CookieJar(() => now, 1000);
    const hello = parseClientHello(
      parseHandshakeFragments(parseRecords(clientHello())[0]!.fragment)![0]!.body,
    );
    const withCookie = (cookie: Buffer) => ({ ...hello, cookie });
    const cookie = jar.make('127.0.0.1|5', hello);
    expect(jar.verify('127.0.0.1|5', withCookie(cookie))).toBe(true);
    expect(jar.verify('127.0.0.1|6', withCookie(cookie))).toBe(false);
    expect(jar.verify('127.0.0.1|5', { ...withCookie(cookie), random: Buffer.alloc(32, 1) })).toBe(false);
    now = 1500;
    expect(jar.verify('127.0.0.1|5', withCookie(cookie))).toBe(true);
    now = 2600;
    expect(jar.verify('127.0.0.1|5', withCookie(cookie))).toBe(false);
  });
});

describe('bounded handshakes and flight retransmission', () => {
  it('caps handshakes per address and in total (the oldest gives way)', async () => {
    const { endpoint: ep, port } = await countingEndpoint({
      limits: { maxHandshakesPerAddress: 3, maxHandshakes: 5 },
    });
    const local = await Promise.all([1, 2, 3, 4].map(() => peer(port)));
    for (const p of local.slice(0, 3)) {
      await p.handshakeWithCookie();
      await p.next(); // ServerHello, ServerHelloDone
    }
    const refused = waitFor(ep, 'handshakeFailure');
    await local[3]!.handshakeWithCookie();
    expect((await refused)[1]).toBe('too many handshakes from this address');
    expect(ep.stats().handshakes).toBe(3);
    const others = await Promise.all([1, 2, 3].map(() => peer(port, '127.0.0.2')));
    const evicted = waitFor(ep, 'handshakeFailure');
    for (const p of others) {
      await p.handshakeWithCookie();
      await p.next();
    }
    expect((await evicted)[1]).toMatch(/evicted/);
    expect(ep.stats()).toMatchObject({ handshakes: 5, addresses: 2 });
  });

  it('retransmits its flight after 1 s, doubling to the limit, then gives the handshake up', async () => {
    const clock = new ManualTimers();
    const { endpoint: ep, sent, port } = await countingEndpoint({ clock, retransmit: { maxRetransmits: 7 } });
    const p = await peer(port);
    await p.handshakeWithCookie();
    const first = await p.next();
    const sentTo = () => sent.get(p.port) ?? 0;
    expect(sentTo()).toBe(2); // HelloVerifyRequest, then the flight
    const waits = [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000];
    for (const wait of waits) {
      clock.advance(wait - 1);
      expect(sentTo()).toBe(2 + waits.indexOf(wait));
      clock.advance(1);
      expect(sentTo()).toBe(3 + waits.indexOf(wait));
    }
    const again = await p.next();
    // The same messages, in records with new sequence numbers.
    const [a, b] = [parseRecords(first), parseRecords(again)];
    expect(b.map((r) => r.fragment.toString('hex'))).toEqual(a.map((r) => r.fragment.toString('hex')));
    expect(b[0]!.seq).toBeGreaterThan(a[a.length - 1]!.seq);
    const gaveUp = waitFor(ep, 'handshakeFailure');
    clock.advance(60_000);
    expect((await gaveUp)[1]).toBe('no answer to our flight');
    expect(ep.stats().handshakes).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('sends its flight again at once when the client repeats its ClientHello', async () => {
    const { sent, port } = await countingEndpoint({ clock: new ManualTimers() });
    const p = await peer(port);
    const second = await p.handshakeWithCookie();
    const flight = await p.next();
    p.send(second);
    const again = await p.next();
    expect(parseRecords(again).map((r) => r.fragment.toString('hex'))).toEqual(
      parseRecords(flight).map((r) => r.fragment.toString('hex')),
    );
    expect(sent.get(p.port)).toBe(3);
    expect(endpoint!.stats().handshakes).toBe(1);
  });

  it('ends a handshake on a fatal alert from the client', async () => {
    const { endpoint: ep, port } = await countingEndpoint({ clock: new ManualTimers() });
    const p = await peer(port);
    await p.handshakeWithCookie();
    await p.next();
    const failure = waitFor(ep, 'handshakeFailure');
    p.send(
      encodeRecord({
        type: ContentType.alert,
        version: DTLS_1_2,
        epoch: 0,
        seq: 5,
        fragment: Buffer.from([AlertLevel.fatal, 40]),
      }),
    );
    expect((await failure)[1]).toBe('peer sent fatal alert 40');
    expect(ep.stats().handshakes).toBe(0);
  });

  it('answers an unexpected handshake message with a fatal alert', async () => {
    const { endpoint: ep, port } = await countingEndpoint({ clock: new ManualTimers() });
    const p = await peer(port);
    await p.handshakeWithCookie();
    await p.next();
    const failure = waitFor(ep, 'handshakeFailure');
    // A Finished in epoch 0 where the ClientKeyExchange belongs.
    const finished = Buffer.concat([
      Buffer.from([HandshakeType.finished, 0, 0, 12, 0, 2, 0, 0, 0, 0, 0, 12]),
      Buffer.alloc(12),
    ]);
    p.send(
      encodeRecord({ type: ContentType.handshake, version: DTLS_1_2, epoch: 0, seq: 2, fragment: finished }),
    );
    expect((await failure)[1]).toMatch(/unexpected handshake message 20/);
    const [alert] = parseRecords(await p.next());
    expect(alert?.type).toBe(ContentType.alert);
    expect([...alert!.fragment]).toEqual([AlertLevel.fatal, 10]);
  });
});

describe('bounded sessions', () => {
  it('evicts the least recently active session when full', async () => {
    server = await TestServer.start({ limits: { maxSessions: 2 } });
    const ended = waitFor(server.endpoint, 'sessionEnd');
    const first = await nodeClient(server.port);
    await nodeClient(server.port);
    await nodeClient(server.port);
    const [gone, reason] = await ended;
    expect(reason).toBe('session evicted: too many sessions');
    expect(gone.port).toBe((first as unknown as { udp: { address(): { port: number } } }).udp.address().port);
    expect(server.endpoint.stats().sessions).toBe(2);
  });

  it('refuses a handshake beyond the sessions allowed to one address', async () => {
    server = await TestServer.start({ limits: { maxSessionsPerAddress: 1 } });
    await nodeClient(server.port);
    const p = await peer(server.port);
    const refused = waitFor(server.endpoint, 'handshakeFailure');
    await p.handshakeWithCookie();
    expect((await refused)[1]).toBe('too many sessions from this address');
    expect(server.endpoint.stats()).toMatchObject({ sessions: 1, handshakes: 0 });
  });

  it('drops sessions idle for the idle timeout (the sweep runs on the injected clock)', async () => {
    const clock = new ManualTimers();
    server = await TestServer.start({ clock, sweepMs: 1000, limits: { sessionIdleMs: 60_000 } });
    await nodeClient(server.port);
    await nodeClient(server.port);
    clock.advance(59_000);
    expect(server.endpoint.stats().sessions).toBe(2);
    const ended = waitFor(server.endpoint, 'sessionEnd');
    clock.advance(1000);
    expect((await ended)[1]).toBe('idle');
    expect(server.endpoint.stats()).toMatchObject({ sessions: 0, addresses: 0 });
  });
});

/** A plaintext (epoch 0) record, as anyone who can spoof a peer's address and port can send it. */
function plaintext(type: number, fragment: Buffer, seq: number): Buffer {
  return encodeRecord({ type, version: DTLS_1_2, epoch: 0, seq, fragment });
}

describe("plaintext records forged from the peer's address and port (RFC 6347 4.1.2.7)", () => {
  const forgeries = (seq: number): Buffer[] => [
    plaintext(ContentType.alert, Buffer.from([AlertLevel.fatal, 40]), seq),
    plaintext(ContentType.alert, Buffer.from([AlertLevel.warning, 0]), seq + 1),
    plaintext(ContentType.changeCipherSpec, Buffer.from([7]), seq + 2),
    plaintext(ContentType.handshake, Buffer.from([1, 2, 3]), seq + 3),
  ];

  it('do not end a session, before or after its first application data', async () => {
    server = await TestServer.start();
    // The relay's socket is the client's address and port as the server sees them: what it
    // injects is indistinguishable from the client's own datagrams.
    relay = await UdpRelay.start(server.port);
    const client = await nodeClient(relay.port);
    const ended: string[] = [];
    server.endpoint.on('sessionEnd', (_peer, reason) => ended.push(reason));
    for (const [round, seq] of [100, 200].entries()) {
      for (const forged of forgeries(seq)) relay.inject(forged);
      // Sent after the forgeries over the same socket: read after them.
      const reply = nextMessage(client);
      client.send(Buffer.from(`round ${round}`));
      expect(await reply).toBe(`pong:round ${round}`);
    }
    expect(ended).toEqual([]);
    expect(server.endpoint.stats()).toMatchObject({ sessions: 1, internalErrors: 0 });
  });

  it("one with the last sequence number does not shut out the client's own (epoch 0 keeps no replay window)", async () => {
    const { endpoint: ep, port } = await countingEndpoint({ clock: new ManualTimers() });
    const p = await peer(port);
    const second = await p.handshakeWithCookie();
    const flight = await p.next();
    p.send(plaintext(ContentType.alert, Buffer.from([AlertLevel.warning, 90]), 2 ** 48 - 1));
    // The client's repeated ClientHello (record 1) still counts: the flight is sent again.
    p.send(second);
    const again = await p.next();
    expect(parseRecords(again).map((r) => r.type)).toEqual(parseRecords(flight).map((r) => r.type));
    expect(ep.stats().handshakes).toBe(1);
  });

  it('malformed ones do not end a handshake; a fatal alert does (documented choice)', async () => {
    const { endpoint: ep, port } = await countingEndpoint({ clock: new ManualTimers() });
    const p = await peer(port);
    const second = await p.handshakeWithCookie();
    const flight = await p.next();
    p.send(plaintext(ContentType.changeCipherSpec, Buffer.from([7]), 10));
    p.send(plaintext(ContentType.handshake, Buffer.from([1, 2, 3]), 11));
    p.send(plaintext(ContentType.alert, Buffer.from([AlertLevel.warning, 90]), 12));
    // The repeated ClientHello is read after them; its answer is the flight again, not an alert.
    p.send(second);
    const again = parseRecords(await p.next());
    expect(again.map((r) => r.type)).toEqual(parseRecords(flight).map((r) => r.type));
    expect(again[0]?.type).toBe(ContentType.handshake);
    expect(ep.stats().handshakes).toBe(1);
  });
});
