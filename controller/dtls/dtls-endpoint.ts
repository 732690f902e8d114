import type { RemoteInfo, Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { CIPHER_SUITES, type CipherSuite } from './cipher-suites.js';
import { ClientHelloAssembly } from './client-hello-assembly.js';
import { type DtlsClock, systemClock } from './clock.js';
import { Connection, type ConnectionHost } from './connection.js';
import { ContentType, DTLS_1_0, HandshakeType, MAX_PLAINTEXT } from './constants.js';
import { CookieJar } from './cookie.js';
import {
  type ClientHello,
  type ClientHelloPrefix,
  encodeHandshake,
  encodeHelloVerifyRequest,
  type HandshakeFragment,
  parseClientHello,
  parseClientHelloPrefix,
  parseHandshakeFragments,
} from './handshake-codec.js';
import { type DtlsRecord, encodeRecord, parseRecords } from './record-codec.js';
import { DEFAULT_RETRANSMIT, type RetransmitPolicy } from './retransmit-timer.js';
import { type Established, type PskLookup, resumableSession } from './server-handshake.js';
import { SessionCache } from './session-cache.js';

/** The sender of a datagram: `dgram`'s RemoteInfo plus the PSK identity its session authenticated. */
export interface DtlsPeer extends RemoteInfo {
  readonly identity: Buffer;
}

/** Structurally the CoAP layer's DatagramSender; the DTLS layer does not depend on the CoAP layer. */
export interface DtlsDatagramSender {
  send(
    datagram: Buffer,
    peer: { readonly address: string; readonly port: number },
    onError?: (err: Error) => void,
  ): void;
}

export interface DtlsLimits {
  /** Established sessions; when full, the least recently active one gives way. */
  readonly maxSessions: number;
  /** Sessions of one IP address (a NAT can hide many devices behind one). */
  readonly maxSessionsPerAddress: number;
  /** Handshakes under way (after a valid cookie); when full, the oldest gives way. */
  readonly maxHandshakes: number;
  readonly maxHandshakesPerAddress: number;
  /** A session with nothing received for this long is dropped (a device resumes it later). */
  readonly sessionIdleMs: number;
  /** A handshake not finished within this is dropped. */
  readonly handshakeTimeoutMs: number;
  /** Sessions kept for resumption by session id, and for how long. */
  readonly resumableSessions: number;
  readonly resumableLifetimeMs: number;
  /** Largest handshake message accepted from a client. */
  readonly maxHandshakeMessageBytes: number;
}

export const DEFAULT_DTLS_LIMITS: DtlsLimits = {
  maxSessions: 100_000,
  maxSessionsPerAddress: 10_000,
  maxHandshakes: 4096,
  maxHandshakesPerAddress: 256,
  sessionIdleMs: 60 * 60_000,
  handshakeTimeoutMs: 90_000,
  resumableSessions: 100_000,
  resumableLifetimeMs: 24 * 60 * 60_000,
  maxHandshakeMessageBytes: 2048,
};

export interface DtlsEndpointOptions {
  /** A bound UDP socket; the endpoint reads every datagram on it and closes it on `close()`. */
  readonly socket: Socket;
  /** The key of a PSK identity, or undefined when unknown. Called once per handshake. */
  readonly lookupPsk: PskLookup;
  readonly clock?: DtlsClock;
  readonly cipherSuites?: readonly CipherSuite[];
  /** Largest datagram sent (handshake messages are fragmented to fit). */
  readonly mtu?: number;
  readonly retransmit?: Partial<RetransmitPolicy>;
  readonly limits?: Partial<DtlsLimits>;
  /** How often the cookie secret changes. */
  readonly cookieRotateMs?: number;
  /** Interval of the idle/handshake expiry sweep; 0: only when `sweep()` is called. */
  readonly sweepMs?: number;
}

export interface DtlsStats {
  readonly sessions: number;
  readonly handshakes: number;
  readonly resumable: number;
  /** Addresses with a session or handshake (the per-address counters held). */
  readonly addresses: number;
  readonly helloVerifyRequests: number;
  /** Exceptions caught at the socket boundary: always a bug, never a peer's fault. */
  readonly internalErrors: number;
}

export interface DtlsEndpointEvents {
  /** An application datagram, decrypted and authenticated. */
  message: [data: Buffer, peer: DtlsPeer];
  session: [peer: DtlsPeer, info: { readonly resumed: boolean; readonly cipherSuite: string }];
  sessionEnd: [peer: DtlsPeer, reason: string];
  handshakeFailure: [peer: { readonly address: string; readonly port: number }, reason: string];
}

/**
 * A DTLS 1.2 PSK server on one UDP socket (RFC 6347, RFC 4279, RFC 6655). Datagrams come out as
 * `message` events with the sender and its authenticated identity; `send` encrypts for a peer's
 * session. Nothing is kept for a peer before it returns a valid cookie, every map is bounded, and
 * nothing a peer sends makes it throw.
 */
export class DtlsEndpoint extends EventEmitter<DtlsEndpointEvents> {
  readonly #socket: Socket;
  readonly #clock: DtlsClock;
  readonly #limits: DtlsLimits;
  readonly #cookies: CookieJar;
  readonly #host: ConnectionHost;
  readonly #sessions = new Map<string, Connection>();
  readonly #handshakes = new Map<string, Connection>();
  /** Sessions that still keep their handshake's final flight, oldest first (the sweep releases them). */
  readonly #keepingHandshake = new Set<Connection>();
  /** ClientHellos in several fragments whose first one showed a valid cookie; they count as handshakes. */
  readonly #assemblies = new Map<string, ClientHelloAssembly>();
  readonly #sessionsByAddress = new Map<string, number>();
  readonly #handshakesByAddress = new Map<string, number>();
  readonly #sweepMs: number;
  #sweepTimer: unknown;
  #helloVerifyRequests = 0;
  #internalErrors = 0;
  #closed = false;

  constructor(opts: DtlsEndpointOptions) {
    super();
    this.#socket = opts.socket;
    this.#clock = opts.clock ?? systemClock;
    this.#limits = { ...DEFAULT_DTLS_LIMITS, ...opts.limits };
    this.#cookies = new CookieJar(() => this.#clock.now(), opts.cookieRotateMs);
    const sessions = new SessionCache(this.#limits.resumableSessions, this.#limits.resumableLifetimeMs);
    this.#host = {
      clock: this.#clock,
      retransmit: { ...DEFAULT_RETRANSMIT, ...opts.retransmit },
      suites: opts.cipherSuites ?? CIPHER_SUITES,
      sessions,
      lookupPsk: opts.lookupPsk,
      // A client sends at most two messages after its ClientHello (ClientKeyExchange, Finished).
      reassembly: { maxMessageBytes: this.#limits.maxHandshakeMessageBytes, maxAhead: 2 },
      mtu: opts.mtu ?? 1200,
      sendDatagram: (datagram, connection) => this.#sendRaw(datagram, connection.port, connection.address),
      established: (connection, result) => this.#onEstablished(connection, result),
      closed: (connection, reason) => this.#onClosed(connection, reason),
      applicationData: (connection, data) => this.#onApplicationData(connection, data),
    };
    this.#socket.on('message', this.#onMessage);
    this.#sweepMs = opts.sweepMs ?? 5_000;
    this.#scheduleSweep();
  }

  /** The local address of the socket. */
  address(): ReturnType<Socket['address']> {
    return this.#socket.address();
  }

  stats(): DtlsStats {
    return {
      sessions: this.#sessions.size,
      handshakes: this.#handshakes.size + this.#assemblies.size,
      resumable: this.#host.sessions.size,
      addresses: new Set([...this.#sessionsByAddress.keys(), ...this.#handshakesByAddress.keys()]).size,
      helloVerifyRequests: this.#helloVerifyRequests,
      internalErrors: this.#internalErrors,
    };
  }

  /** Whether `address:port` has a session (datagrams can be sent to it). */
  hasSession(port: number, address: string): boolean {
    return this.#sessions.has(peerKey(address, port));
  }

  /** The identity of the peer's session, if there is one. */
  identityOf(port: number, address: string): Buffer | undefined {
    return this.#sessions.get(peerKey(address, port))?.established?.identity;
  }

  /**
   * Encrypts `data` for the session of `address:port` and sends it. Refused (false, and the callback
   * gets an error) when there is no session or the datagram is too large for one record.
   */
  send(data: Buffer, port: number, address: string, callback?: (err: Error | null) => void): boolean {
    const connection = this.#sessions.get(peerKey(address, port));
    let refusal: string | undefined;
    if (connection === undefined) refusal = `no DTLS session with ${address}:${port}`;
    else if (data.length > MAX_PLAINTEXT) refusal = `datagram of ${data.length} bytes exceeds one record`;
    else if (!connection.sendApplicationData(data))
      refusal = `DTLS session with ${address}:${port} cannot send`;
    if (callback !== undefined)
      queueMicrotask(() => callback(refusal === undefined ? null : new Error(refusal)));
    return refusal === undefined;
  }

  /**
   * The endpoint as the CoAP layer's datagram sender (`controller/coap/datagram-sender.ts`): a
   * datagram for a peer without a session is refused and `onError` hears of it.
   */
  datagramSender(): DtlsDatagramSender {
    return {
      send: (datagram, peer, onError) => {
        this.send(datagram, peer.port, peer.address, onError && ((err) => err && onError(err)));
      },
    };
  }

  /** Ends the session with a peer (close_notify). */
  closeSession(port: number, address: string): void {
    this.#sessions.get(peerKey(address, port))?.close('closed by the server', true);
  }

  /** Drops idle sessions and handshakes that took too long. */
  sweep(): void {
    const now = this.#clock.now();
    for (const connection of this.#sessions.values()) {
      if (now - connection.lastActivity < this.#limits.sessionIdleMs) break;
      connection.close('idle', false);
    }
    for (const connection of this.#handshakes.values()) {
      if (now - connection.createdAt < this.#limits.handshakeTimeoutMs) break;
      connection.close('handshake timed out', false);
    }
    // A client that never sent a datagram after its Finished: by now it has ours, or has given up.
    for (const connection of this.#keepingHandshake) {
      if (connection.keepsHandshake && now - connection.createdAt < this.#limits.handshakeTimeoutMs) break;
      connection.releaseHandshake();
      this.#keepingHandshake.delete(connection);
    }
    for (const [key, assembly] of this.#assemblies) {
      if (now - assembly.createdAt < this.#limits.handshakeTimeoutMs) break;
      this.#dropAssembly(key);
      this.emit('handshakeFailure', assembly, 'ClientHello fragments missing');
    }
  }

  /** Sends close_notify to every session (when `notify`), forgets all state, closes the socket. */
  close(opts: { readonly notify?: boolean } = {}): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    if (this.#sweepTimer !== undefined) this.#clock.clearTimeout(this.#sweepTimer);
    for (const connection of [...this.#handshakes.values()]) connection.close('endpoint closed', false);
    for (const connection of [...this.#sessions.values()])
      connection.close('endpoint closed', opts.notify ?? true);
    for (const key of [...this.#assemblies.keys()]) this.#dropAssembly(key);
    this.#host.sessions.clear();
    this.#socket.off('message', this.#onMessage);
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  readonly #onMessage = (datagram: Buffer, rinfo: RemoteInfo): void => {
    try {
      this.#receive(datagram, rinfo);
    } catch {
      // Nothing a peer sends may take the endpoint down; stats() makes such a bug visible.
      this.#internalErrors++;
    }
  };

  #receive(datagram: Buffer, rinfo: RemoteInfo): void {
    const records = parseRecords(datagram);
    if (records.length === 0) return;
    const key = peerKey(rinfo.address, rinfo.port);
    let batch: DtlsRecord[] = [];
    let target: Connection | undefined;
    const flush = (): void => {
      if (target !== undefined && batch.length > 0 && !target.isClosed) {
        if (target.receive(batch) > 0) this.#touch(target);
      }
      batch = [];
    };
    for (const record of records) {
      const session = this.#sessions.get(key);
      if (record.epoch >= 1 && session !== undefined && this.#handshakes.has(key)) {
        // A new handshake from this address and port is under way, yet the peer may still be using
        // its session (or the handshake is someone else's): records that open under it are its.
        flush();
        target = undefined;
        if (session.receive([record]) > 0) {
          this.#touch(session);
          continue;
        }
      }
      const next = this.#route(record, key, rinfo);
      if (next !== target) {
        flush();
        target = next;
      }
      if (next !== undefined) batch.push(record);
    }
    flush();
  }

  /** Marks a session as most recently active: the idle sweep walks from the front. */
  #touch(connection: Connection): void {
    if (this.#sessions.get(connection.key) !== connection) return;
    this.#sessions.delete(connection.key);
    this.#sessions.set(connection.key, connection);
  }

  /** The connection a record is for; undefined when it is consumed here (a ClientHello) or dropped. */
  #route(record: DtlsRecord, key: string, rinfo: RemoteInfo): Connection | undefined {
    const handshake = this.#handshakes.get(key);
    const session = this.#sessions.get(key);
    if (record.epoch === 0 && record.type === ContentType.handshake) {
      const fragments = parseHandshakeFragments(record.fragment);
      if (fragments?.[0]?.msgType === HandshakeType.clientHello)
        return this.#onClientHelloRecord(record, fragments, key, rinfo);
      return handshake ?? session;
    }
    // A handshake under way takes the other records of its peer; its keys may still be being looked
    // up when the client's Finished comes (in the same datagram as the key exchange).
    return handshake ?? session;
  }

  /**
   * The ClientHello fragments of one record, outside a handshake's own message flow. A whole
   * ClientHello or the first fragment of one is answered with a cookie, statelessly, unless it
   * shows a valid one; then a whole one starts a handshake and a first fragment starts an assembly
   * of the rest (RFC 6347 4.2.1, 4.2.3). A later fragment counts only for an assembly under way.
   * Returns the handshake a retransmitted ClientHello belongs to (it answers with its flight).
   */
  #onClientHelloRecord(
    record: DtlsRecord,
    fragments: readonly HandshakeFragment[],
    key: string,
    rinfo: RemoteInfo,
  ): Connection | undefined {
    for (const fragment of fragments) {
      if (fragment.msgType !== HandshakeType.clientHello) continue;
      const assembly = this.#assemblies.get(key);
      if (fragment.fragmentOffset > 0) {
        if (assembly !== undefined) this.#assemble(assembly, fragment, record.seq, key);
        continue;
      }
      const prefix = parseClientHelloPrefix(fragment.body);
      if (prefix === undefined) continue;
      const handshake = this.#handshakes.get(key);
      if (handshake?.handshakeRandom?.equals(prefix.random)) return handshake;
      // A late copy of the ClientHello of a handshake that has finished: nothing to do.
      if (this.#sessions.get(key)?.handshakeRandom?.equals(prefix.random)) continue;
      if (assembly?.random.equals(prefix.random)) {
        this.#assemble(assembly, fragment, record.seq, key);
        continue;
      }
      if (!this.#cookies.verify(key, prefix)) {
        if (!this.#resumeWithoutCookie(key, rinfo, fragment, prefix, record.seq))
          this.#sendHelloVerifyRequest(record, fragment, prefix, rinfo);
        continue;
      }
      if (fragment.body.length === fragment.length) {
        this.#startHandshake(key, rinfo, fragment, record.seq);
        continue;
      }
      this.#startAssembly(key, rinfo, prefix.random, fragment, record.seq);
    }
    return undefined;
  }

  /**
   * RFC 6347 4.2.1 lets a server skip the cookie round for a ClientHello that resumes a session it
   * knows; done here only when the session was made from the same IP address and the ClientHello can
   * really resume it (suite, extended master secret). Why that is safe enough:
   * - Amplification: the answer is one datagram (ServerHello, ChangeCipherSpec, Finished: about 170
   *   bytes for a ClientHello of about 110 or more), sent once: a handshake without a cookie arms
   *   no retransmission timer; the client's own timer resends its ClientHello, and that is answered
   *   again (once per datagram). A spoofer gets less than 2x, to an address that had a session.
   * - State: forging needs a session id (it travels in clear, so an on-path observer has it) and the
   *   address it was made from; such handshakes count against the same per-address and total caps
   *   as any other, so they can crowd out only that address's handshakes, which the cookie round
   *   would not have protected either from an attacker who sees its traffic.
   * - Keys: nothing is learnt without the master secret; a wrong client Finished ends the handshake.
   * A resumption whose credential has changed since is not turned into a full handshake without a
   * cookie: the session is forgotten and the client's retry gets a HelloVerifyRequest.
   */
  #resumeWithoutCookie(
    key: string,
    rinfo: RemoteInfo,
    fragment: HandshakeFragment,
    prefix: ClientHelloPrefix,
    recordSeq: number,
  ): boolean {
    const whole = fragment.fragmentOffset === 0 && fragment.body.length === fragment.length;
    if (!whole || prefix.cookie.length !== 0) return false;
    const now = this.#clock.now();
    if (!this.#host.sessions.madeFrom(prefix.sessionId, rinfo.address, now)) return false;
    const hello = parseOwnClientHello(fragment.body, this.#limits.maxHandshakeMessageBytes);
    if (hello === undefined || resumableSession(hello.hello, this.#host, now) === undefined) return false;
    this.#beginHandshake(key, rinfo, hello, fragment, recordSeq, true);
    return true;
  }

  /** RFC 6347 4.2.1: the record sequence number of the ClientHello, and no state. */
  #sendHelloVerifyRequest(
    record: DtlsRecord,
    fragment: HandshakeFragment,
    prefix: ClientHelloPrefix,
    rinfo: RemoteInfo,
  ): void {
    this.#helloVerifyRequests++;
    const cookie = this.#cookies.make(peerKey(rinfo.address, rinfo.port), prefix);
    const message = encodeHandshake(
      HandshakeType.helloVerifyRequest,
      fragment.messageSeq,
      encodeHelloVerifyRequest(cookie),
    );
    const reply = encodeRecord({
      type: ContentType.handshake,
      version: DTLS_1_0,
      epoch: 0,
      seq: record.seq,
      fragment: message,
    });
    this.#sendRaw(reply, rinfo.port, rinfo.address);
  }

  /** The first fragment of a ClientHello with a valid cookie: its other fragments are kept from now on. */
  #startAssembly(
    key: string,
    rinfo: RemoteInfo,
    random: Buffer,
    first: HandshakeFragment,
    recordSeq: number,
  ): void {
    const { address, port } = rinfo;
    if (first.length > this.#limits.maxHandshakeMessageBytes) {
      this.emit('handshakeFailure', { address, port }, 'ClientHello too large');
      return;
    }
    const refusal = this.#admit(key, address);
    if (refusal !== undefined) {
      this.emit('handshakeFailure', { address, port }, refusal);
      return;
    }
    const assembly = new ClientHelloAssembly(
      { address, port },
      random,
      first,
      this.#clock.now(),
      this.#limits.maxHandshakeMessageBytes,
    );
    this.#assemblies.set(key, assembly);
    increment(this.#handshakesByAddress, address);
    this.#assemble(assembly, first, recordSeq, key);
  }

  #assemble(
    assembly: ClientHelloAssembly,
    fragment: HandshakeFragment,
    recordSeq: number,
    key: string,
  ): void {
    const whole = assembly.add(fragment, recordSeq);
    if (whole === undefined) return;
    this.#dropAssembly(key);
    let hello: ClientHello;
    try {
      hello = parseClientHello(whole.body);
    } catch {
      this.emit('handshakeFailure', assembly, 'malformed ClientHello');
      return;
    }
    // Later fragments may have overwritten the first one's bytes: the cookie is checked again.
    if (!this.#cookies.verify(key, hello)) return;
    this.#startHandshake(
      key,
      assembly,
      { msgType: whole.msgType, messageSeq: whole.messageSeq, body: whole.body },
      assembly.recordSeq,
    );
  }

  #dropAssembly(key: string): void {
    const assembly = this.#assemblies.get(key);
    if (assembly === undefined) return;
    this.#assemblies.delete(key);
    decrement(this.#handshakesByAddress, assembly.address);
  }

  /** A whole ClientHello with a valid cookie: a new handshake, when there is room for it. */
  #startHandshake(
    key: string,
    peer: { readonly address: string; readonly port: number },
    message: HandshakeMessageParts,
    recordSeq: number,
  ): void {
    if (message.body.length > this.#limits.maxHandshakeMessageBytes) {
      this.emit('handshakeFailure', { address: peer.address, port: peer.port }, 'ClientHello too large');
      return;
    }
    const hello = parseOwnClientHello(message.body, this.#limits.maxHandshakeMessageBytes);
    if (hello !== undefined) this.#beginHandshake(key, peer, hello, message, recordSeq, false);
  }

  #beginHandshake(
    key: string,
    peer: { readonly address: string; readonly port: number },
    { hello, body }: OwnClientHello,
    message: HandshakeMessageParts,
    recordSeq: number,
    cookieless: boolean,
  ): void {
    const { address, port } = peer;
    const refusal = this.#admit(key, address);
    if (refusal !== undefined) {
      this.emit('handshakeFailure', { address, port }, refusal);
      return;
    }
    const connection = new Connection(
      this.#host,
      { address, port, key },
      hello,
      { msgType: message.msgType, epoch: 0, messageSeq: message.messageSeq, body },
      recordSeq,
      cookieless,
    );
    this.#handshakes.set(key, connection);
    increment(this.#handshakesByAddress, address);
    connection.start();
  }

  /** Makes room for a new handshake of `key`; the reason it cannot have one. */
  #admit(key: string, address: string): string | undefined {
    this.#handshakes.get(key)?.close('superseded by a new ClientHello', false);
    this.#dropAssembly(key);
    if ((this.#handshakesByAddress.get(address) ?? 0) >= this.#limits.maxHandshakesPerAddress) {
      return 'too many handshakes from this address';
    }
    const sessionsHere = this.#sessionsByAddress.get(address) ?? 0;
    if (!this.#sessions.has(key) && sessionsHere >= this.#limits.maxSessionsPerAddress) {
      return 'too many sessions from this address';
    }
    while (this.#handshakes.size + this.#assemblies.size >= this.#limits.maxHandshakes) {
      const [oldestKey, assembly] = this.#assemblies.entries().next().value ?? [];
      const oldest = this.#handshakes.values().next().value;
      if (oldestKey !== undefined && assembly !== undefined) {
        if (oldest === undefined || assembly.createdAt <= oldest.createdAt) {
          this.#dropAssembly(oldestKey);
          this.emit('handshakeFailure', assembly, 'handshake evicted: too many handshakes');
          continue;
        }
      }
      if (oldest === undefined) break;
      oldest.close('handshake evicted: too many handshakes', false);
    }
    return undefined;
  }

  #onEstablished(connection: Connection, result: Established): void {
    const { key, address } = connection;
    if (this.#handshakes.get(key) === connection) {
      this.#handshakes.delete(key);
      decrement(this.#handshakesByAddress, address);
    }
    // A device that restarted its handshake from the same address and port replaces its old session.
    this.#sessions.get(key)?.close('replaced by a new session', false);
    while (this.#sessions.size >= this.#limits.maxSessions) {
      const oldest = this.#sessions.values().next().value;
      if (oldest === undefined) break;
      oldest.close('session evicted: too many sessions', false);
    }
    this.#sessions.set(key, connection);
    increment(this.#sessionsByAddress, address);
    if (connection.keepsHandshake) this.#keepingHandshake.add(connection);
    this.emit('session', this.#peer(connection, result), {
      resumed: result.resumed,
      cipherSuite: result.cipherSuite.name,
    });
  }

  #onClosed(connection: Connection, reason: string): void {
    const { key, address } = connection;
    if (this.#handshakes.get(key) === connection) {
      this.#handshakes.delete(key);
      decrement(this.#handshakesByAddress, address);
      if (connection.established === undefined)
        this.emit('handshakeFailure', { address, port: connection.port }, reason);
    }
    this.#keepingHandshake.delete(connection);
    if (this.#sessions.get(key) === connection) {
      this.#sessions.delete(key);
      decrement(this.#sessionsByAddress, address);
      this.emit('sessionEnd', this.#peer(connection, connection.established!), reason);
    }
  }

  #onApplicationData(connection: Connection, data: Buffer): void {
    const established = connection.established;
    if (established === undefined || this.#sessions.get(connection.key) !== connection) return;
    this.emit('message', data, this.#peer(connection, established, data.length));
  }

  #peer(connection: Connection, established: Established, size = 0): DtlsPeer {
    return {
      address: connection.address,
      port: connection.port,
      family: connection.address.includes(':') ? 'IPv6' : 'IPv4',
      size,
      identity: established.identity,
    };
  }

  #sendRaw(datagram: Buffer, port: number, address: string): void {
    if (this.#closed) return;
    try {
      this.#socket.send(datagram, port, address, () => {
        // A send error (unreachable peer, closed socket) loses one datagram, as UDP does.
      });
    } catch {
      // The socket is closing.
    }
  }

  #scheduleSweep(): void {
    if (this.#sweepMs <= 0 || this.#closed) return;
    this.#sweepTimer = this.#clock.setTimeout(() => {
      this.#sweepTimer = undefined;
      this.sweep();
      this.#scheduleSweep();
    }, this.#sweepMs);
  }
}

interface HandshakeMessageParts {
  readonly msgType: number;
  readonly messageSeq: number;
  readonly body: Buffer;
}

interface OwnClientHello {
  readonly hello: ClientHello;
  readonly body: Buffer;
}

/**
 * A ClientHello parsed from a copy of its body, so that the handshake keeping it does not keep the
 * datagram it came in alive; undefined when it is too large or malformed.
 */
function parseOwnClientHello(message: Buffer, maxBytes: number): OwnClientHello | undefined {
  if (message.length > maxBytes) return undefined;
  const body = Buffer.from(message);
  try {
    return { hello: parseClientHello(body), body };
  } catch {
    return undefined;
  }
}

function peerKey(address: string, port: number): string {
  return `${address}|${port}`;
}

function increment(counts: Map<string, number>, address: string): void {
  counts.set(address, (counts.get(address) ?? 0) + 1);
}

function decrement(counts: Map<string, number>, address: string): void {
  const n = (counts.get(address) ?? 0) - 1;
  if (n <= 0) counts.delete(address);
  else counts.set(address, n);
}
