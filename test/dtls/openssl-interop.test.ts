import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, TestServer, waitFor } from './support/dtls-server.js';
import { OpensslClient } from './support/openssl-client.js';

let server: TestServer;
let dir: string;
const clients: OpensslClient[] = [];

function client(opts: Partial<ConstructorParameters<typeof OpensslClient>[0]> = {}): OpensslClient {
  const c = new OpensslClient({
    port: server.port,
    identity: 'device-1',
    keyHex: KEYS['device-1']!.toString('hex'),
    cipher: 'PSK-AES128-CCM8',
    ...opts,
  });
  clients.push(c);
  return c;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otactl-dtls-'));
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.kill()));
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('interop with openssl s_client', () => {
  for (const cipher of ['PSK-AES128-CCM8', 'PSK-AES128-CBC-SHA256'] as const) {
    it(`${cipher}: handshake, data both ways, close_notify`, async () => {
      server = await TestServer.start();
      const session = waitFor(server.endpoint, 'session');
      const c = client({ cipher });
      const [peer, info] = await session;
      expect(peer.identity.toString()).toBe('device-1');
      expect(info.cipherSuite).toBe(
        cipher === 'PSK-AES128-CCM8' ? 'TLS_PSK_WITH_AES_128_CCM_8' : 'TLS_PSK_WITH_AES_128_CBC_SHA256',
      );
      expect(info.resumed).toBe(false);
      const message = waitFor(server.endpoint, 'message');
      c.write('ping\n');
      const [data, from] = await message;
      expect(data.toString()).toBe('ping\n');
      expect(from.identity.toString()).toBe('device-1');
      expect(from.port).toBe(peer.port);
      await c.waitForOutput(/pong:ping/);
      // openssl offers the extended master secret and secure renegotiation signalling.
      expect(c.output).toMatch(/Extended master secret: yes/);
      expect(c.output).toMatch(/Secure Renegotiation IS supported/);
      const end = waitFor(server.endpoint, 'sessionEnd');
      await c.end();
      expect((await end)[1]).toBe('peer sent close_notify');
      expect(server.endpoint.stats()).toMatchObject({ sessions: 0, handshakes: 0, internalErrors: 0 });
    });
  }

  it('resumes a session by id (abbreviated handshake) without a new key exchange', async () => {
    server = await TestServer.start();
    const sessionFile = join(dir, 'session.pem');
    const first = client({ extra: ['-sess_out', sessionFile] });
    await waitFor(server.endpoint, 'session');
    first.write('one\n');
    await first.waitForOutput(/pong:one/);
    await first.end();
    expect(first.output).toMatch(/^New, /m);

    const resumed = waitFor(server.endpoint, 'session');
    const second = client({ extra: ['-sess_in', sessionFile] });
    const [peer, info] = await resumed;
    expect(info.resumed).toBe(true);
    expect(peer.identity.toString()).toBe('device-1');
    second.write('two\n');
    await second.waitForOutput(/pong:two/);
    expect(second.output).toMatch(/^Reused, /m);
    // The resumption checked the credential still exists: one lookup per handshake.
    expect(server.lookups).toEqual(['device-1', 'device-1']);
  });

  it('does not resume once the credential is gone: a full handshake fails instead', async () => {
    const keys = new Map([['device-1', KEYS['device-1']!]]);
    server = await TestServer.start({ lookupPsk: async (id) => keys.get(id.toString()) });
    const sessionFile = join(dir, 'session.pem');
    const first = client({ extra: ['-sess_out', sessionFile] });
    await waitFor(server.endpoint, 'session');
    await first.end();
    keys.delete('device-1');
    // Without a cookie the server will not fall back to a full handshake: it forgets the session
    // and says nothing; openssl's next ClientHello gets a cookie round and the full handshake fails.
    const refused = waitFor(server.endpoint, 'handshakeFailure');
    const failure = waitFor(server.endpoint, 'handshakeFailure', (_p, reason) =>
      /does not authenticate/.test(reason),
    );
    const second = client({ extra: ['-sess_in', sessionFile] });
    expect((await refused)[1]).toMatch(/session credential changed/);
    await failure;
    await second.waitForOutput(/alert bad record mac/);
    expect(server.endpoint.stats().sessions).toBe(0);
  });

  it('fragments its flight to a small MTU; openssl reassembles it', async () => {
    server = await TestServer.start({ mtu: 60 });
    const session = waitFor(server.endpoint, 'session');
    const c = client({ cipher: 'PSK-AES128-CBC-SHA256' });
    await session;
    c.write('small\n');
    await c.waitForOutput(/pong:small/);
  });

  it('refuses a wrong key with a bad_record_mac alert and keeps no state', async () => {
    server = await TestServer.start();
    const failure = waitFor(server.endpoint, 'handshakeFailure');
    const c = client({ keyHex: 'ff'.repeat(16) });
    expect((await failure)[1]).toMatch(/wrong key or unknown identity/);
    await c.waitForOutput(/alert bad record mac/);
    expect(server.endpoint.stats()).toMatchObject({ sessions: 0, handshakes: 0 });
  });

  it('answers an unknown identity exactly like a wrong key (RFC 4279 2)', async () => {
    server = await TestServer.start();
    const failure = waitFor(server.endpoint, 'handshakeFailure');
    const c = client({ identity: 'nobody' });
    expect((await failure)[1]).toMatch(/wrong key or unknown identity/);
    await c.waitForOutput(/alert bad record mac/);
    expect(server.lookups).toEqual(['nobody']);
    expect(server.endpoint.stats()).toMatchObject({ sessions: 0, handshakes: 0 });
  });

  it('serves IPv6 peers: the peer address and family come from the socket', async () => {
    server = await TestServer.start({ ipv6: true });
    const session = waitFor(server.endpoint, 'session');
    const c = client({ host: '[::1]' });
    const [peer] = await session;
    expect(peer).toMatchObject({ address: '::1', family: 'IPv6' });
    c.write('six\n');
    await c.waitForOutput(/pong:six/);
    expect(server.received[0]?.peer.identity.toString()).toBe('device-1');
  });

  it('refuses renegotiation with a no_renegotiation alert', async () => {
    server = await TestServer.start();
    const session = waitFor(server.endpoint, 'session');
    const c = client();
    await session;
    c.write('one\n');
    await c.waitForOutput(/pong:one/);
    const end = waitFor(server.endpoint, 'sessionEnd');
    c.write('R\n'); // s_client's command to renegotiate
    await c.waitForOutput(/no renegotiation/);
    // OpenSSL gives the connection up on the refusal (handshake_failure), and so does the server.
    expect((await end)[1]).toBe('peer sent fatal alert 40');
    expect(server.received.map((r) => r.text)).toEqual(['one\n']);
  });
});
