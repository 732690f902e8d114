import { AlertDescription, AlertLevel, ContentType, HandshakeType } from './constants.js';
import { type FlightEntry, packFlight } from './flight.js';
import { type ClientHello, parseHandshakeFragments } from './handshake-codec.js';
import type { HandshakeMessage } from './reassembler.js';
import type { DtlsRecord } from './record-codec.js';
import { RecordState } from './record-state.js';
import { type Established, type HandshakeSettings, ServerHandshake } from './server-handshake.js';

/** What a connection needs from its endpoint. */
export interface ConnectionHost extends HandshakeSettings {
  /** Largest datagram to send. */
  readonly mtu: number;
  sendDatagram(datagram: Buffer, connection: Connection): void;
  established(connection: Connection, result: Established): void;
  /** The connection is over (handshake failed, alert, close_notify); the endpoint forgets it. */
  closed(connection: Connection, reason: string): void;
  applicationData(connection: Connection, data: Buffer): void;
}

/** Records of epoch 1 held while the key is looked up (the client's CCS and Finished, a retransmission). */
const MAX_HELD_RECORDS = 4;
/** A record larger than this is no Finished or ChangeCipherSpec and is not held. */
const MAX_HELD_RECORD_BYTES = 256;

/**
 * One peer's association: its record state, its handshake while there is one, and then its
 * session (identity, suite). It reads every record the endpoint routes to it and never throws.
 */
export class Connection {
  readonly address: string;
  readonly port: number;
  readonly key: string;
  readonly #host: ConnectionHost;
  readonly #records: RecordState;
  #handshake: ServerHandshake | undefined;
  /** Made only when a record must wait for keys: most connections never need it. */
  #held: DtlsRecord[] | undefined;
  #established: Established | undefined;
  #closed = false;
  lastActivity: number;
  readonly createdAt: number;
  /** Serial of the datagram being read; a flight is resent at most once per datagram. */
  #datagram = 0;
  #resentFor = -1;
  /** The datagram that brought the client's Finished. */
  #establishedIn = 0;

  constructor(
    host: ConnectionHost,
    peer: { address: string; port: number; key: string },
    hello: ClientHello,
    helloMessage: HandshakeMessage,
    helloRecordSeq: number,
    cookieless: boolean,
  ) {
    this.#host = host;
    this.address = peer.address;
    this.port = peer.port;
    this.key = peer.key;
    this.createdAt = host.clock.now();
    this.lastActivity = this.createdAt;
    this.#records = new RecordState(helloRecordSeq);
    this.#handshake = new ServerHandshake(
      {
        clock: host.clock,
        retransmit: host.retransmit,
        suites: host.suites,
        sessions: host.sessions,
        lookupPsk: host.lookupPsk,
        reassembly: host.reassembly,
        records: this.#records,
        address: peer.address,
        cookieless,
        sendFlight: (flight, why) => this.#sendFlight(flight, why),
        established: (result) => this.#onEstablished(result),
        failed: (reason, alert) => this.#fail(reason, alert),
        keysReady: () => this.#releaseHeld(),
      },
      hello,
      helloMessage,
    );
  }

  /** Begins the handshake: the server's first flight goes out (or, for a resumption, after a lookup). */
  start(): void {
    this.#handshake?.start();
  }

  get established(): Established | undefined {
    return this.#established;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** The client random of the handshake while it is kept (a ClientHello with it is a retransmission). */
  get handshakeRandom(): Buffer | undefined {
    return this.#handshake?.clientRandom;
  }

  /** Reads the records of one datagram. Returns how many were authentic. */
  receive(records: readonly DtlsRecord[]): number {
    this.#datagram++;
    let accepted = 0;
    for (const record of records) {
      if (this.#closed) break;
      if (this.#receiveRecord(record)) accepted++;
    }
    return accepted;
  }

  /** Sends application data under the session's keys; false when there is no session (yet). */
  sendApplicationData(data: Buffer): boolean {
    if (this.#closed || this.#established === undefined) return false;
    const record = this.#records.seal(ContentType.applicationData, data);
    if (record === undefined) return false;
    this.#host.sendDatagram(record, this);
    return true;
  }

  /** Ends the connection; a session gets a close_notify first. */
  close(reason: string, notify: boolean): void {
    if (this.#closed) return;
    if (notify && this.#established !== undefined)
      this.#sendAlert(AlertLevel.warning, AlertDescription.closeNotify);
    this.#finish(reason);
  }

  #receiveRecord(record: DtlsRecord): boolean {
    if (record.epoch === 1 && this.#established === undefined && !this.#records.canRead(1)) {
      // Keys not there yet (the key exchange is being looked up, or was lost): keep a few.
      this.#held ??= [];
      if (this.#held.length < MAX_HELD_RECORDS && record.fragment.length <= MAX_HELD_RECORD_BYTES) {
        // A copy: the record is a view into its datagram, which must not stay alive with it.
        this.#held.push({ ...record, fragment: Buffer.from(record.fragment) });
      }
      return false;
    }
    const plain = this.#records.open(record);
    if (plain === undefined) {
      // The client's Finished that does not open: a wrong key (or an unknown identity, RFC 4279 2).
      if (record.epoch === 1 && this.#established === undefined && this.#handshake !== undefined) {
        this.#fail(
          'record of epoch 1 does not authenticate: wrong key or unknown identity',
          AlertDescription.badRecordMac,
        );
      }
      return false;
    }
    this.lastActivity = this.#host.clock.now();
    switch (record.type) {
      case ContentType.handshake:
        this.#onHandshake(plain, record.epoch);
        return true;
      case ContentType.changeCipherSpec:
        // Epoch 1 keys are used as soon as they exist; the ChangeCipherSpec itself carries nothing.
        // A malformed one is an invalid record, discarded (RFC 6347 4.1.2.7): it is plaintext that
        // anyone who can spoof the peer's address could have sent.
        return plain.length === 1 && plain[0] === 1;
      case ContentType.alert:
        this.#onAlert(plain, record.epoch);
        return true;
      case ContentType.applicationData:
        if (record.epoch === 0) return false;
        if (this.#established === undefined) {
          // Authentic data before the client's Finished: its Finished was lost (dtls-endpoint.ts).
          this.#handshake?.onDataBeforeFinished();
          return false;
        }
        if (this.#handshake?.done && (this.#established.resumed || this.#datagram > this.#establishedIn)) {
          // The client has our Finished: the final flight needs keeping no more. Not so for data
          // in the datagram of its Finished (a full handshake's client may send its first record
          // with its final flight, RFC 7918): our Finished may yet be lost and asked for again.
          this.releaseHandshake();
        }
        this.#host.applicationData(this, plain);
        return true;
      default:
        return false;
    }
  }

  #onHandshake(plain: Buffer, epoch: number): void {
    const fragments = parseHandshakeFragments(plain);
    if (fragments === undefined) {
      // Plaintext that does not parse is discarded (RFC 6347 4.1.2.7); an authenticated one is the peer's.
      if (this.#established === undefined && epoch >= 1)
        this.#fail('malformed handshake record', AlertDescription.decodeError);
      return;
    }
    for (const fragment of fragments) {
      if (this.#established !== undefined && epoch >= 1 && fragment.msgType === HandshakeType.clientHello) {
        // RFC 5746 4.4 / RFC 6347: renegotiation is refused, the session goes on.
        this.#sendAlert(AlertLevel.warning, AlertDescription.noRenegotiation);
        continue;
      }
      this.#handshake?.onFragment(fragment, epoch);
      if (this.#closed) return;
    }
  }

  /**
   * RFC 6347 4.1.2.7: an alert that is not authenticated must not end a session, so once the session
   * exists only alerts of its epoch count. During the handshake a plaintext fatal alert (or
   * close_notify) ends it: nothing of a handshake is authenticated before the Finished messages, a
   * client refuses our parameters with exactly such an alert (openssl sends handshake_failure or
   * unknown_psk_identity in epoch 0), and ending early frees the handshake's place. A forger who
   * can spoof the client's address and port thereby delays that device until it retries (its
   * ClientHello is answered again without state), and an existing session of the same address is
   * left alone: the alert goes to the new handshake only.
   */
  #onAlert(plain: Buffer, epoch: number): void {
    if (plain.length !== 2) return;
    const [level, description] = [plain[0]!, plain[1]!];
    if (epoch === 0 && this.#established !== undefined) return;
    if (description === AlertDescription.closeNotify) {
      this.close('peer sent close_notify', true);
    } else if (level === AlertLevel.fatal) {
      this.#finish(`peer sent fatal alert ${description}`);
    }
  }

  /** Whether the session still keeps its handshake's final flight (for a client that may ask again). */
  get keepsHandshake(): boolean {
    return this.#established !== undefined && this.#handshake !== undefined;
  }

  /**
   * Forgets the finished handshake (its final flight, epoch 0): on the client's first datagram
   * after it, or by the endpoint's sweep for a client that never sends one.
   */
  releaseHandshake(): void {
    if (this.#established === undefined || this.#handshake === undefined) return;
    this.#handshake.close();
    this.#handshake = undefined;
    this.#records.dropEpochZero();
  }

  #onEstablished(result: Established): void {
    this.#established = result;
    this.#establishedIn = this.#datagram;
    this.#host.established(this, result);
  }

  #releaseHeld(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const record of held) {
      if (this.#closed) return;
      this.#receiveRecord(record);
    }
  }

  #sendFlight(flight: readonly FlightEntry[], why: 'new' | 'timer' | 'peer'): void {
    if (this.#closed) return;
    if (why === 'peer') {
      if (this.#resentFor === this.#datagram) return;
      this.#resentFor = this.#datagram;
    }
    for (const datagram of packFlight(this.#records, flight, this.#host.mtu))
      this.#host.sendDatagram(datagram, this);
  }

  #sendAlert(level: number, description: number): void {
    const record = this.#records.seal(ContentType.alert, Buffer.from([level, description]));
    if (record !== undefined) this.#host.sendDatagram(record, this);
  }

  #fail(reason: string, alert?: number): void {
    if (this.#closed) return;
    if (alert !== undefined) this.#sendAlert(AlertLevel.fatal, alert);
    this.#finish(reason);
  }

  #finish(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handshake?.abort();
    this.#handshake = undefined;
    this.#held = undefined;
    this.#host.closed(this, reason);
  }
}
