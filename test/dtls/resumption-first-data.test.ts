import { afterEach, describe, expect, it } from 'vitest';
import { ContentType } from '../../controller/dtls/constants.js';
import { type ClientSession, DEFAULT_DTLS_LIMITS } from '../../controller/dtls/index.js';
import { TestClient, type TestClientOptions } from './support/dtls-client.js';
import { KEYS, TestServer, waitFor } from './support/dtls-server.js';
import { ManualTimers } from './support/manual-timers.js';
import { UdpRelay } from './support/udp-relay.js';

const KEY = KEYS['device-1']!;
let server: TestServer | undefined;
const clients: TestClient[] = [];
const relays: UdpRelay[] = [];

async function connect(opts: Partial<TestClientOptions> & { readonly serverPort: number }) {
  const client = await TestClient.connect({ identity: 'device-1', key: KEY, ...opts });
  clients.push(client);
  return client;
}

async function relayTo(host = '127.0.0.1'): Promise<UdpRelay> {
  const relay = await UdpRelay.start(server!.port, host);
  relays.push(relay);
  return relay;
}

/** A full handshake from 127.0.0.1; the session it made. */
async function firstSession(): Promise<ClientSession> {
  const first = await connect({ serverPort: server!.port });
  const outcome = await first.outcome;
  if (outcome.kind !== 'established') throw new Error(outcome.reason);
  return outcome.info.session!;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(relays.splice(0).map((r) => r.close()));
  await server?.close();
  server = undefined;
});

describe('resumption without a cookie round (RFC 6347 4.2.1)', () => {
  it('answers a resuming ClientHello from the session’s address at once, with no timer', async () => {
    const clock = new ManualTimers();
    server = await TestServer.start({ clock });
    const session = await firstSession();
    expect(server.endpoint.stats().helloVerifyRequests).toBe(1);

    const relay = await relayTo('127.0.0.1');
    relay.holdFromServer = true;
    const resumed = waitFor(server.endpoint, 'session', (_p, info) => info.resumed);
    const client = await connect({ serverPort: relay.port, resume: session });
    const flight = await relay.nextFromServer();
    // One flight, no timer to send it again: a spoofed ClientHello gets one answer only.
    expect(clock.pending).toBe(0);
    relay.toClient(flight);
    expect(await client.outcome).toMatchObject({ kind: 'established', info: { resumed: true } });
    await resumed;
    expect(server.endpoint.stats().helloVerifyRequests).toBe(1);
    // ClientHello, then ChangeCipherSpec and Finished.
    expect(relay.fromClient).toHaveLength(2);
  });

  it('asks for a cookie when the session was made from another address', async () => {
    const clock = new ManualTimers();
    server = await TestServer.start({ clock });
    const session = await firstSession();
    const relay = await relayTo('127.0.0.2');
    const client = await connect({ serverPort: relay.port, serverHost: '127.0.0.2', resume: session });
    expect(await client.outcome).toMatchObject({ kind: 'established', info: { resumed: true } });
    expect(server.endpoint.stats().helloVerifyRequests).toBe(2);
  });

  it('asks for a cookie when the session is unknown, and keeps nothing', async () => {
    server = await TestServer.start();
    const session = await firstSession();
    const forged: ClientSession = { ...session, id: Buffer.alloc(32, 9) };
    const client = await connect({ serverPort: server.port, resume: forged });
    expect(await client.outcome).toMatchObject({ kind: 'established', info: { resumed: false } });
    expect(server.endpoint.stats().helloVerifyRequests).toBe(2);
  });

  it('gets over a lost final flight of the client: its next data prompts the server to resend', async () => {
    server = await TestServer.start();
    const session = await firstSession();
    const relay = await relayTo('127.0.0.1');
    let dropped: () => void = () => {};
    const lost = new Promise<void>((resolve) => {
      dropped = resolve;
    });
    relay.tamper = (datagram) => {
      // ClientHello, then ChangeCipherSpec and Finished: lost.
      if (relay.fromClient.length !== 2) return datagram;
      dropped();
      return undefined;
    };
    const resumed = waitFor(server.endpoint, 'session', (_p, info) => info.resumed);
    const client = await connect({ serverPort: relay.port, resume: session });
    expect(await client.outcome).toMatchObject({ kind: 'established', info: { resumed: true } });
    await lost;
    // The server still waits for the Finished; the client's data (lost with it) makes it resend.
    client.connection.send(Buffer.from('lost'));
    await resumed;
    const pong = client.next();
    client.connection.send(Buffer.from('again'));
    expect(await pong).toBe('pong:again');
  });
});

describe('application data in the client’s final flight', () => {
  it('full handshake: the Register-like record rides with the Finished and is answered', async () => {
    server = await TestServer.start();
    const relay = await relayTo();
    const client = await connect({ serverPort: relay.port, firstData: Buffer.from('register') });
    const pong = client.next();
    expect(await client.outcome).toMatchObject({ kind: 'established', info: { resumed: false } });
    expect(await pong).toBe('pong:register');
    // ClientHello, ClientHello with cookie, then ClientKeyExchange, ChangeCipherSpec, Finished, data.
    expect(relay.fromClient).toHaveLength(3);
    expect(server.received.map((r) => [r.text, r.peer.identity.toString()])).toEqual([
      ['register', 'device-1'],
    ]);
  });

  it('resumed handshake: two datagrams from the client, data answered', async () => {
    server = await TestServer.start();
    const session = await firstSession();
    const relay = await relayTo();
    const client = await connect({
      serverPort: relay.port,
      resume: session,
      firstData: Buffer.from('update'),
    });
    const pong = client.next();
    expect(await client.outcome).toMatchObject({ kind: 'established', info: { resumed: true } });
    expect(await pong).toBe('pong:update');
    expect(relay.fromClient).toHaveLength(2);
  });

  it('full handshake: when the server’s Finished is lost, the client’s resent flight gets it again', async () => {
    server = await TestServer.start();
    const relay = await relayTo();
    relay.holdFromServer = true;
    const clientClock = new ManualTimers();
    const client = await connect({
      serverPort: relay.port,
      firstData: Buffer.from('register'),
      clock: clientClock,
    });
    relay.toClient(await relay.nextFromServer()); // HelloVerifyRequest
    relay.toClient(await relay.nextFromServer()); // ServerHello, ServerHelloDone
    await relay.nextFromServer(); // ChangeCipherSpec, Finished: lost
    await relay.nextFromServer(); // the answer to the data: lost
    relay.holdFromServer = false;
    const pong = client.next();
    clientClock.advance(1000);
    expect(await client.outcome).toMatchObject({ kind: 'established', info: { resumed: false } });
    expect(await pong).toBe('pong:register');
    // The data came twice (with each copy of the flight): the layer above deduplicates (CoAP does).
    expect(server.received.map((r) => r.text)).toEqual(['register', 'register']);
  });

  it('full handshake: the sweep forgets the final flight of a session whose client sent nothing after it', async () => {
    const serverClock = new ManualTimers();
    server = await TestServer.start({ clock: serverClock });
    const relay = await relayTo();
    relay.holdFromServer = true;
    const clientClock = new ManualTimers();
    await connect({ serverPort: relay.port, firstData: Buffer.from('register'), clock: clientClock });
    relay.toClient(await relay.nextFromServer()); // HelloVerifyRequest
    relay.toClient(await relay.nextFromServer()); // ServerHello, ServerHelloDone
    await relay.nextFromServer(); // ChangeCipherSpec, Finished: lost
    await relay.nextFromServer(); // the answer to the data: lost

    // Past the handshake timeout the session keeps its keys but no longer its final flight.
    serverClock.advance(DEFAULT_DTLS_LIMITS.handshakeTimeoutMs);
    server.endpoint.sweep();
    expect(server.endpoint.stats().sessions).toBe(1);
    clientClock.advance(1000); // the client sends its flight again
    // The data in it is answered; the Finished is not sent again (its content type would be 20).
    const next = await relay.nextFromServer();
    expect(next[0]).toBe(ContentType.applicationData);
  });
});
