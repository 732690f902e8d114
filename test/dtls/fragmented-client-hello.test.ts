import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ContentType, HandshakeType } from '../../controller/dtls/constants.js';
import { parseHandshakeFragments } from '../../controller/dtls/handshake-codec.js';
import { parseRecords } from '../../controller/dtls/record-codec.js';
import { KEYS, TestServer, waitFor } from './support/dtls-server.js';
import { ManualTimers } from './support/manual-timers.js';
import { OpensslClient } from './support/openssl-client.js';
import { clientHello, cookieOf, helloFragments, RawPeer } from './support/raw-peer.js';
import { UdpRelay } from './support/udp-relay.js';

let server: TestServer | undefined;
let relay: UdpRelay | undefined;
let openssl: OpensslClient | undefined;
const peers: RawPeer[] = [];

afterEach(async () => {
  await openssl?.kill();
  openssl = undefined;
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await relay?.close();
  relay = undefined;
  await server?.close();
  server = undefined;
});

async function peer(port: number, address?: string): Promise<RawPeer> {
  const p = await RawPeer.open(port, address);
  peers.push(p);
  return p;
}

/** The handshake message types of a datagram from the server. */
function messageTypes(datagram: Buffer): number[] {
  return parseRecords(datagram).flatMap((record) =>
    record.type === ContentType.handshake && record.epoch === 0
      ? (parseHandshakeFragments(record.fragment) ?? []).map((f) => f.msgType)
      : [],
  );
}

/** The cookie for `random`, from a HelloVerifyRequest to a whole ClientHello. */
async function cookieFor(p: RawPeer, random: Buffer): Promise<Buffer> {
  p.send(clientHello({ random, padding: 100 }));
  const cookie = cookieOf(await p.next());
  if (cookie === undefined) throw new Error('no HelloVerifyRequest');
  return cookie;
}

describe('a ClientHello in several fragments (RFC 6347 4.2.1, 4.2.3)', () => {
  it('openssl with a 256-byte link MTU and a long server name completes its handshake', async () => {
    server = await TestServer.start();
    relay = await UdpRelay.start(server.port);
    const session = waitFor(server.endpoint, 'session');
    const serverName = `${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.example`;
    openssl = new OpensslClient({
      port: relay.port,
      identity: 'device-1',
      keyHex: KEYS['device-1']!.toString('hex'),
      cipher: 'PSK-AES128-CCM8',
      extra: ['-mtu', '256', '-servername', serverName],
    });
    const [from] = await session;
    expect(from.identity.toString()).toBe('device-1');
    openssl.write('ping\n');
    await openssl.waitForOutput(/pong:ping/);
    // Its ClientHellos came in more than one fragment each.
    const helloFragmentOffsets = relay.fromClient.flatMap((datagram) =>
      parseRecords(datagram).flatMap((record) =>
        record.type === ContentType.handshake && record.epoch === 0
          ? (parseHandshakeFragments(record.fragment) ?? [])
              .filter((f) => f.msgType === HandshakeType.clientHello)
              .map((f) => f.fragmentOffset)
          : [],
      ),
    );
    expect(helloFragmentOffsets.filter((offset) => offset > 0).length).toBeGreaterThanOrEqual(2);
    expect(server.endpoint.stats()).toMatchObject({ handshakes: 0, sessions: 1, internalErrors: 0 });
  });

  it('without a cookie: its first fragment gets a HelloVerifyRequest, the others nothing, no state is kept', async () => {
    server = await TestServer.start();
    const p = await peer(server.port);
    const random = randomBytes(32);
    const pieces = helloFragments(clientHello({ random, padding: 100 }), 60);
    expect(pieces.length).toBe(3);
    for (const piece of pieces) p.send(piece);
    const reply = await p.next();
    expect(cookieOf(reply)).toHaveLength(20);
    // The HelloVerifyRequest answers with the first fragment's record sequence number.
    expect(parseRecords(reply)[0]!.seq).toBe(0);
    // Read after the fragments: its answer is the next datagram, so they got none.
    p.send(clientHello({ recordSeq: 5 }));
    expect(cookieOf(await p.next())).toBeDefined();
    expect(p.received).toBe(2);
    expect(server.endpoint.stats()).toMatchObject({ handshakes: 0, addresses: 0, helloVerifyRequests: 2 });
  });

  it('with a valid cookie: fragments in any order become a handshake; one before the first is dropped', async () => {
    server = await TestServer.start({ clock: new ManualTimers() });
    const p = await peer(server.port);
    const random = randomBytes(32);
    const cookie = await cookieFor(p, random);
    const [first, second, third] = helloFragments(
      clientHello({ random, cookie, padding: 100, messageSeq: 1, recordSeq: 1 }),
      60,
    );
    // Before its first fragment nothing of it is kept: this one is lost, as if the network lost it.
    p.send(second!);
    p.send(first!);
    p.send(third!);
    // A whole ClientHello without a cookie from another port shows when these have been read.
    const probe = await peer(server.port);
    probe.send(clientHello());
    await probe.next();
    expect(server.endpoint.stats()).toMatchObject({ handshakes: 1, sessions: 0 });
    expect(p.received).toBe(1);
    // The client's retransmission brings the missing piece.
    p.send(second!);
    const flight = await p.next();
    expect(messageTypes(flight)).toEqual([HandshakeType.serverHello, HandshakeType.serverHelloDone]);
    // The server's records continue above the ClientHello's record sequence numbers.
    expect(parseRecords(flight)[0]!.seq).toBe(3);
    expect(server.endpoint.stats()).toMatchObject({ handshakes: 1, internalErrors: 0 });
  });

  it('state kept after a cookie counts against the handshake limits and expires', async () => {
    const clock = new ManualTimers();
    server = await TestServer.start({
      clock,
      limits: { maxHandshakesPerAddress: 2, handshakeTimeoutMs: 10_000, maxHandshakeMessageBytes: 300 },
    });
    const failures: string[] = [];
    server.endpoint.on('handshakeFailure', (_peer, reason) => failures.push(reason));
    const local = await Promise.all([1, 2, 3, 4].map(() => peer(server!.port)));
    for (const [i, p] of local.entries()) {
      const random = randomBytes(32);
      const cookie = await cookieFor(p, random);
      // The fourth claims a message larger than the server takes.
      const hello = clientHello({
        random,
        cookie,
        padding: i === 3 ? 400 : 100,
        messageSeq: 1,
        recordSeq: 1,
      });
      p.send(helloFragments(hello, 60)[0]!);
    }
    const probe = await peer(server.port, '127.0.0.2');
    probe.send(clientHello());
    await probe.next();
    expect(failures).toEqual(['too many handshakes from this address', 'ClientHello too large']);
    expect(server.endpoint.stats()).toMatchObject({ handshakes: 2, addresses: 1 });
    clock.advance(10_000);
    server.endpoint.sweep();
    expect(failures.slice(2)).toEqual(['ClientHello fragments missing', 'ClientHello fragments missing']);
    expect(server.endpoint.stats()).toMatchObject({ handshakes: 0, addresses: 0, internalErrors: 0 });
  });
});
