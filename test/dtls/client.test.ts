import { afterEach, describe, expect, it } from 'vitest';
import {
  type CipherSuite,
  TLS_PSK_WITH_AES_128_CBC_SHA256,
  TLS_PSK_WITH_AES_128_CCM_8,
} from '../../controller/dtls/index.js';
import { TestClient, type TestClientOptions } from './support/dtls-client.js';
import { KEYS, TestServer, waitFor } from './support/dtls-server.js';
import { ManualTimers } from './support/manual-timers.js';
import { OpensslServer, type OpensslServerOptions } from './support/openssl-server.js';
import { UdpRelay } from './support/udp-relay.js';

const KEY = KEYS['device-1']!;
let server: TestServer | undefined;
const clients: TestClient[] = [];
const opensslServers: OpensslServer[] = [];
let relay: UdpRelay | undefined;

async function connect(opts: Partial<TestClientOptions> & { readonly serverPort: number }) {
  const client = await TestClient.connect({ identity: 'device-1', key: KEY, ...opts });
  clients.push(client);
  return client;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(opensslServers.splice(0).map((s) => s.kill()));
  await relay?.close();
  relay = undefined;
  await server?.close();
  server = undefined;
});

const SUITES: readonly [OpensslServerOptions['cipher'], CipherSuite][] = [
  ['PSK-AES128-CCM8', TLS_PSK_WITH_AES_128_CCM_8],
  ['PSK-AES128-CBC-SHA256', TLS_PSK_WITH_AES_128_CBC_SHA256],
];

describe('our DTLS client against our server', () => {
  for (const [, suite] of SUITES) {
    it(`${suite.name}: cookie round, full handshake, data both ways, then resumption by session id`, async () => {
      server = await TestServer.start();
      const first = await connect({ serverPort: server.port, suites: [suite] });
      const outcome = await first.outcome;
      expect(outcome.kind).toBe('established');
      if (outcome.kind !== 'established') return;
      expect(outcome.info).toMatchObject({ resumed: false, cipherSuite: suite });
      expect(outcome.info.session?.extendedMasterSecret).toBe(true);
      const pong = first.next();
      expect(first.connection.send(Buffer.from('hello'))).toBe(true);
      expect(await pong).toBe('pong:hello');
      expect(server.received.map((r) => r.peer.identity.toString())).toEqual(['device-1']);
      expect(server.endpoint.stats().helloVerifyRequests).toBe(1);

      // The device wakes up on a new port and offers its session: no key exchange, no lookup of a key... but
      // one lookup to check the key is unchanged.
      const resumedOnServer = waitFor(server.endpoint, 'session', (_p, info) => info.resumed);
      const second = await connect({
        serverPort: server.port,
        suites: [suite],
        resume: outcome.info.session!,
      });
      const again = await second.outcome;
      expect(again).toMatchObject({ kind: 'established', info: { resumed: true } });
      expect((await resumedOnServer)[0].identity.toString()).toBe('device-1');
      const pong2 = second.next();
      second.connection.send(Buffer.from('again'));
      expect(await pong2).toBe('pong:again');
      expect(server.endpoint.stats().internalErrors).toBe(0);
    });
  }

  it('does a full handshake when the server no longer has the offered session', async () => {
    server = await TestServer.start();
    const first = await connect({ serverPort: server.port });
    const outcome = await first.outcome;
    if (outcome.kind !== 'established') throw new Error(outcome.reason);
    await server.close();
    server = await TestServer.start();
    const second = await connect({ serverPort: server.port, resume: outcome.info.session! });
    expect(await second.outcome).toMatchObject({ kind: 'established', info: { resumed: false } });
  });

  it('fails cleanly with an alert when its key is wrong', async () => {
    server = await TestServer.start();
    const failure = waitFor(server.endpoint, 'handshakeFailure');
    const client = await connect({ serverPort: server.port, key: Buffer.alloc(16, 7) });
    expect(await client.outcome).toEqual({ kind: 'closed', reason: 'server sent fatal alert 20' });
    expect((await failure)[1]).toMatch(/wrong key/);
    expect(client.connection.send(Buffer.from('x'))).toBe(false);
    expect(server.endpoint.stats()).toMatchObject({ sessions: 0, handshakes: 0, internalErrors: 0 });
  });

  it('sends its key exchange flight again when it is lost', async () => {
    server = await TestServer.start();
    relay = await UdpRelay.start(server.port);
    const clock = new ManualTimers();
    let dropped: () => void = () => {};
    const lost = new Promise<void>((resolve) => {
      dropped = resolve;
    });
    let drops = 0;
    relay.tamper = (datagram) => {
      // The third datagram is ClientKeyExchange, ChangeCipherSpec and Finished.
      if (relay!.fromClient.length === 3 && drops++ === 0) {
        dropped();
        return undefined;
      }
      return datagram;
    };
    const client = await connect({ serverPort: relay.port, clock });
    await lost;
    clock.advance(1000);
    expect(await client.outcome).toMatchObject({ kind: 'established', info: { resumed: false } });
    expect(relay.fromClient).toHaveLength(4);
  });

  it('sends its final resumed flight again when the server repeats its own', async () => {
    const serverClock = new ManualTimers();
    server = await TestServer.start({ clock: serverClock });
    const first = await connect({ serverPort: server.port });
    const outcome = await first.outcome;
    if (outcome.kind !== 'established') throw new Error(outcome.reason);
    // From another address than the session's: a cookie round, and the server's flight has a timer.
    relay = await UdpRelay.start(server.port, '127.0.0.2');
    let dropped: () => void = () => {};
    const lost = new Promise<void>((resolve) => {
      dropped = resolve;
    });
    relay.tamper = (datagram) => {
      // ClientHello, ClientHello with cookie, then ChangeCipherSpec and Finished: lost once.
      if (relay!.fromClient.length === 3) {
        dropped();
        return undefined;
      }
      return datagram;
    };
    const resumedOnServer = waitFor(server.endpoint, 'session', (_p, info) => info.resumed);
    const second = await connect({
      serverPort: relay.port,
      serverHost: '127.0.0.2',
      resume: outcome.info.session!,
    });
    expect(await second.outcome).toMatchObject({ kind: 'established', info: { resumed: true } });
    await lost;
    serverClock.advance(1000);
    await resumedOnServer;
    expect(relay.fromClient).toHaveLength(4);
  });
});

describe('our DTLS client against openssl s_server', () => {
  for (const [cipher, suite] of SUITES) {
    it(`${cipher}: handshake and data both ways`, async () => {
      const { server: openssl, port } = await OpensslServer.start({
        identity: 'device-1',
        keyHex: KEY.toString('hex'),
        cipher,
      });
      opensslServers.push(openssl);
      const client = await connect({ serverPort: port, suites: [suite] });
      const outcome = await client.outcome;
      expect(outcome).toMatchObject({ kind: 'established', info: { resumed: false, cipherSuite: suite } });
      client.connection.send(Buffer.from('from-our-client\n'));
      await openssl.waitForOutput(/from-our-client/);
      const line = client.next();
      openssl.write('from-openssl\n');
      expect(await line).toBe('from-openssl\n');
    });
  }

  it('resumes its session with openssl', async () => {
    const { server: openssl, port } = await OpensslServer.start({
      identity: 'device-1',
      keyHex: KEY.toString('hex'),
      cipher: 'PSK-AES128-CCM8',
    });
    opensslServers.push(openssl);
    const first = await connect({ serverPort: port });
    const outcome = await first.outcome;
    if (outcome.kind !== 'established') throw new Error(outcome.reason);
    // s_server serves one client at a time: the first says goodbye before the second comes.
    first.connection.close('done', true);
    await openssl.waitForOutput(/^DONE$/m);
    const second = await connect({ serverPort: port, resume: outcome.info.session! });
    expect(await second.outcome).toMatchObject({ kind: 'established', info: { resumed: true } });
  });

  it('gives up cleanly when its key is wrong (openssl drops the Finished it cannot read)', async () => {
    const { server: openssl, port } = await OpensslServer.start({
      identity: 'device-1',
      keyHex: KEY.toString('hex'),
      cipher: 'PSK-AES128-CCM8',
    });
    opensslServers.push(openssl);
    const client = await connect({
      serverPort: port,
      key: Buffer.alloc(16, 7),
      retransmit: { initialMs: 20, maxRetransmits: 2 },
    });
    // RFC 6347 4.1.2.7: a record that does not authenticate is dropped silently, so no alert comes.
    expect(await client.outcome).toEqual({ kind: 'closed', reason: 'no answer from the server' });
  });
});
