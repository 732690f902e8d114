import { type CipherSuite, TLS_PSK_WITH_AES_128_CCM_8 } from './cipher-suites.js';
import {
  type ClientEstablished,
  ClientHandshake,
  type ClientSession,
  type PskCredentials,
} from './client-handshake.js';
import { type DtlsClock, systemClock } from './clock.js';
import { AlertDescription, AlertLevel, ContentType, HandshakeType, MAX_PLAINTEXT } from './constants.js';
import { packFlight } from './flight.js';
import { parseHandshakeFragments } from './handshake-codec.js';
import { type DtlsRecord, parseRecords } from './record-codec.js';
import { RecordState } from './record-state.js';
import { DEFAULT_RETRANSMIT, type RetransmitPolicy } from './retransmit-timer.js';

/** What a client connection tells its owner; handlers must not throw. */
export interface DtlsClientHandlers {
  established?(info: ClientEstablished): void;
  data(data: Buffer): void;
  /** The connection is over: the handshake failed, an alert, close_notify or `close()`. */
  closed?(reason: string): void;
}

export interface DtlsClientOptions {
  readonly credentials: PskCredentials;
  /** Offered in this order; default CCM-8 alone (LwM2M's mandatory suite). */
  readonly cipherSuites?: readonly CipherSuite[];
  /** A session of an earlier connection to the same server, offered for an abbreviated handshake. */
  readonly resume?: ClientSession;
  /**
   * Application data (a Register) sent with the final flight, in the datagram of our Finished,
   * instead of a round trip later; sent again with the flight when it is resent. After an
   * abbreviated handshake the server's Finished has been checked by then. After a full one it has
   * not: that is TLS False Start (RFC 7918), acceptable here because the record keys come from the
   * pre-shared key, so only its holder can read the data, and every suite offered is one the client
   * accepts; a tampered handshake still fails at the server's Finished.
   */
  readonly firstData?: Buffer;
  /** Writes one datagram to the server; the owner of the socket routes the server's datagrams to `receive`. */
  readonly send: (datagram: Buffer) => void;
  readonly handlers: DtlsClientHandlers;
  readonly clock?: DtlsClock;
  readonly retransmit?: Partial<RetransmitPolicy>;
  /** Largest datagram sent. */
  readonly mtu?: number;
}

/**
 * A DTLS 1.2 PSK client's association with one server. It owns no socket, so any number of them
 * can share one socket or have one each: the owner feeds the server's datagrams to `receive`.
 * Nothing the server sends makes it throw.
 */
export class DtlsClientConnection {
  readonly #options: DtlsClientOptions;
  readonly #records = new RecordState(0);
  #handshake: ClientHandshake | undefined;
  #established: ClientEstablished | undefined;
  #closed = false;
  /** Serial of the datagram being read; a flight is resent at most once per datagram. */
  #datagram = 0;
  #resentFor = -1;

  constructor(options: DtlsClientOptions) {
    if ((options.firstData?.length ?? 0) > MAX_PLAINTEXT)
      throw new RangeError('firstData exceeds one record');
    this.#options = options;
    const mtu = options.mtu ?? 1200;
    this.#handshake = new ClientHandshake({
      clock: options.clock ?? systemClock,
      retransmit: { ...DEFAULT_RETRANSMIT, ...options.retransmit },
      suites: options.cipherSuites ?? [TLS_PSK_WITH_AES_128_CCM_8],
      credentials: options.credentials,
      resume: options.resume,
      records: this.#records,
      firstData: options.firstData,
      sendFlight: (flight, why) => {
        if (this.#closed) return;
        if (why === 'peer') {
          if (this.#resentFor === this.#datagram) return;
          this.#resentFor = this.#datagram;
        }
        for (const datagram of packFlight(this.#records, flight, mtu)) options.send(datagram);
      },
      established: (info) => {
        this.#established = info;
        options.handlers.established?.(info);
      },
      failed: (reason, alert) => this.#fail(reason, alert),
    });
  }

  /** Sends the ClientHello. */
  start(): void {
    this.#handshake?.start();
  }

  get established(): ClientEstablished | undefined {
    return this.#established;
  }

  /** The session to offer when this device connects again (undefined before the handshake is done). */
  get session(): ClientSession | undefined {
    return this.#established?.session;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Reads one datagram from the server. */
  receive(datagram: Buffer): void {
    this.#datagram++;
    for (const record of parseRecords(datagram)) {
      if (this.#closed) return;
      this.#receiveRecord(record);
    }
  }

  /** Encrypts and sends application data; false when there is no session (yet) or it is too large. */
  send(data: Buffer): boolean {
    if (this.#closed || this.#established === undefined || data.length > MAX_PLAINTEXT) return false;
    const record = this.#records.seal(ContentType.applicationData, data);
    if (record === undefined) return false;
    this.#options.send(record);
    return true;
  }

  /** Ends the connection; with `notify`, an established one sends close_notify first. */
  close(reason = 'closed by the client', notify = true): void {
    if (this.#closed) return;
    if (notify && this.#established !== undefined)
      this.#sendAlert(AlertLevel.warning, AlertDescription.closeNotify);
    this.#finish(reason);
  }

  #receiveRecord(record: DtlsRecord): void {
    const plain = this.#records.open(record);
    if (plain === undefined) {
      if (record.epoch === 1 && this.#established === undefined && this.#records.canRead(1)) {
        this.#fail('record of epoch 1 does not authenticate', AlertDescription.badRecordMac);
      }
      return;
    }
    switch (record.type) {
      case ContentType.handshake:
        this.#onHandshake(plain, record.epoch);
        return;
      case ContentType.changeCipherSpec:
        if (plain.length !== 1 || plain[0] !== 1)
          this.#fail('malformed ChangeCipherSpec', AlertDescription.decodeError);
        return;
      case ContentType.alert:
        this.#onAlert(plain, record.epoch);
        return;
      case ContentType.applicationData:
        if (record.epoch === 0 || this.#established === undefined) return;
        if (this.#handshake?.done) {
          // The server has our final flight: nothing to send again any more.
          this.#handshake.close();
          this.#handshake = undefined;
          this.#records.dropEpochZero();
        }
        this.#options.handlers.data(plain);
        return;
      default:
        return;
    }
  }

  #onHandshake(plain: Buffer, epoch: number): void {
    const fragments = parseHandshakeFragments(plain);
    if (fragments === undefined) {
      if (this.#established === undefined)
        this.#fail('malformed handshake record', AlertDescription.decodeError);
      return;
    }
    for (const fragment of fragments) {
      if (this.#established !== undefined && fragment.msgType === HandshakeType.helloRequest) {
        this.#sendAlert(AlertLevel.warning, AlertDescription.noRenegotiation);
        continue;
      }
      this.#handshake?.onFragment(fragment, epoch);
      if (this.#closed) return;
    }
  }

  #onAlert(plain: Buffer, epoch: number): void {
    if (plain.length !== 2) return;
    const [level, description] = [plain[0]!, plain[1]!];
    // An unprotected alert is believed only during the handshake: a spoofed one must not end a session.
    if (epoch === 0 && this.#established !== undefined) return;
    if (description === AlertDescription.closeNotify) this.close('server sent close_notify', true);
    else if (level === AlertLevel.fatal) this.#finish(`server sent fatal alert ${description}`);
  }

  #sendAlert(level: number, description: number): void {
    const record = this.#records.seal(ContentType.alert, Buffer.from([level, description]));
    if (record !== undefined) this.#options.send(record);
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
    this.#options.handlers.closed?.(reason);
  }
}
