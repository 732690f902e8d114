import { createHash, type Hash, timingSafeEqual } from 'node:crypto';
import { DecodeError } from './byte-reader.js';
import { type CipherSuite, deriveKeys } from './cipher-suites.js';
import {
  encodeClientHello,
  encodePskClientKeyExchange,
  parseHelloVerifyRequest,
  parsePskServerKeyExchange,
  parseServerHello,
  type ServerHelloFields,
} from './client-messages.js';
import type { DtlsClock } from './clock.js';
import { AlertDescription, ContentType, DTLS_1_2, ExtensionType, HandshakeType } from './constants.js';
import type { FlightEntry } from './flight.js';
import { FlightSender } from './flight-sender.js';
import { EMPTY, encodeHandshake, type HandshakeFragment } from './handshake-codec.js';
import { ownCopy } from './own-buffer.js';
import { extendedMasterSecret, finishedVerifyData, masterSecret, pskPremasterSecret } from './prf.js';
import { publicRandom } from './public-random.js';
import { type HandshakeMessage, Reassembler } from './reassembler.js';
import type { RecordProtection } from './record-protection.js';
import type { RecordState } from './record-state.js';
import type { RetransmitPolicy } from './retransmit-timer.js';

/** A device's pre-shared key and the identity it is known by. */
export interface PskCredentials {
  readonly identity: Buffer;
  readonly key: Buffer;
}

/** What a client keeps of a session to resume it later (RFC 5246 7.3). */
export interface ClientSession {
  readonly id: Buffer;
  readonly masterSecret: Buffer;
  readonly cipherSuite: CipherSuite;
  readonly extendedMasterSecret: boolean;
}

export interface ClientEstablished {
  readonly cipherSuite: CipherSuite;
  readonly resumed: boolean;
  /** Undefined when the server gave the session no id (it cannot be resumed). */
  readonly session: ClientSession | undefined;
}

/** What the client handshake needs from the connection it runs on. */
export interface ClientHandshakeHost {
  readonly clock: DtlsClock;
  readonly retransmit: RetransmitPolicy;
  readonly suites: readonly CipherSuite[];
  readonly credentials: PskCredentials;
  /** A session to offer for resumption; the server may answer with a full handshake instead. */
  readonly resume: ClientSession | undefined;
  readonly records: RecordState;
  /** Application data sent in the datagram of our Finished (see DtlsClientOptions.firstData). */
  readonly firstData: Buffer | undefined;
  sendFlight(flight: readonly FlightEntry[], why: 'new' | 'timer' | 'peer'): void;
  established(result: ClientEstablished): void;
  failed(reason: string, alert?: number): void;
}

type State =
  | 'await-hello'
  | 'await-hello-done'
  | 'await-finished'
  | 'await-resumed-finished'
  | 'done'
  | 'failed';

/** A server's first flight is at most ServerHello, ServerKeyExchange, ServerHelloDone. */
const REASSEMBLY = { maxMessageBytes: 2048, maxAhead: 4 } as const;
/** Cookie rounds accepted before giving up (a server rotating its secret may ask twice). */
const MAX_COOKIE_ROUNDS = 3;
const CHANGE_CIPHER_SPEC: FlightEntry = {
  type: ContentType.changeCipherSpec,
  epoch: 0,
  payload: Buffer.from([1]),
};

/**
 * The client side of one DTLS 1.2 PSK handshake (RFC 6347, RFC 4279): ClientHello, the
 * HelloVerifyRequest cookie round, then full (ClientKeyExchange, ChangeCipherSpec, Finished) or
 * abbreviated when the server resumes the offered session. Offers the extended master secret.
 */
export class ClientHandshake {
  readonly #host: ClientHandshakeHost;
  readonly #random = publicRandom(32);
  readonly #flights: FlightSender;
  /** Our flight's retransmissions are used up. */
  readonly #noAnswer = (): void => this.#fail('no answer from the server');
  #state: State = 'await-hello';
  #cookieRounds = 0;
  #nextSendSeq = 0;
  /** The last ClientHello (encoded with its header): the transcript starts with it. */
  #hello: Buffer = EMPTY;
  #helloSeq = 0;
  #reassembler = new Reassembler(0, REASSEMBLY);
  #transcript: Hash | undefined;
  #serverRandom: Buffer = EMPTY;
  #suite: CipherSuite | undefined;
  #sessionId: Buffer = EMPTY;
  #master: Buffer | undefined;
  #ems = false;
  #pendingWrite: RecordProtection | undefined;

  constructor(host: ClientHandshakeHost) {
    this.#host = host;
    this.#flights = new FlightSender(host.clock, host.retransmit, (flight, why) =>
      host.sendFlight(flight, why),
    );
  }

  get done(): boolean {
    return this.#state === 'done';
  }

  start(): void {
    this.#sendHello(EMPTY);
  }

  /** A handshake fragment of the server (plaintext of an epoch 0 or 1 record). */
  onFragment(fragment: HandshakeFragment, epoch: number): void {
    if (this.#state === 'failed') return;
    if (fragment.msgType === HandshakeType.helloVerifyRequest) {
      this.#onHelloVerifyRequest(fragment, epoch);
      return;
    }
    if (fragment.messageSeq < this.#reassembler.next) {
      // The server sent its flight again: ours was lost (RFC 6347 4.2.4).
      this.#flights.resend();
      return;
    }
    if (this.#state === 'done') return;
    for (const message of this.#reassembler.add(fragment, epoch)) {
      if ((this.#state as State) === 'failed') return;
      this.#onMessage(message);
    }
  }

  /** Stops the timer (the connection is closing or the server has our final flight). */
  close(): void {
    this.#flights.clear();
  }

  #onHelloVerifyRequest(fragment: HandshakeFragment, epoch: number): void {
    // Only an answer to the latest ClientHello counts; a late one for an earlier hello is ignored.
    if (this.#state !== 'await-hello' || epoch !== 0 || fragment.messageSeq !== this.#helloSeq) return;
    if (fragment.fragmentOffset !== 0 || fragment.body.length !== fragment.length) return;
    let cookie: Buffer;
    try {
      cookie = parseHelloVerifyRequest(fragment.body);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.#fail('malformed HelloVerifyRequest', AlertDescription.decodeError);
      return;
    }
    if (++this.#cookieRounds > MAX_COOKIE_ROUNDS) {
      this.#fail('server keeps asking for a cookie', AlertDescription.handshakeFailure);
      return;
    }
    this.#sendHello(ownCopy(cookie));
  }

  #onMessage(message: HandshakeMessage): void {
    const { msgType, epoch } = message;
    if (this.#state === 'await-hello' && msgType === HandshakeType.serverHello && epoch === 0) {
      this.#onServerHello(message);
    } else if (
      this.#state === 'await-hello-done' &&
      msgType === HandshakeType.serverKeyExchange &&
      epoch === 0
    ) {
      this.#onServerKeyExchange(message);
    } else if (
      this.#state === 'await-hello-done' &&
      msgType === HandshakeType.serverHelloDone &&
      epoch === 0
    ) {
      this.#hash(message);
      this.#sendKeyExchange();
    } else if (this.#state === 'await-finished' && msgType === HandshakeType.finished && epoch === 1) {
      this.#onFinished(message);
    } else if (
      this.#state === 'await-resumed-finished' &&
      msgType === HandshakeType.finished &&
      epoch === 1
    ) {
      this.#onFinished(message);
    } else {
      this.#fail(
        `unexpected handshake message ${msgType} in ${this.#state}`,
        AlertDescription.unexpectedMessage,
      );
    }
  }

  #onServerHello(message: HandshakeMessage): void {
    let hello: ServerHelloFields;
    try {
      hello = parseServerHello(message.body);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.#fail('malformed ServerHello', AlertDescription.decodeError);
      return;
    }
    const refusal = this.#checkServerHello(hello);
    if (refusal !== undefined) {
      this.#fail(refusal.reason, refusal.alert);
      return;
    }
    const suite = this.#host.suites.find((s) => s.id === hello.cipherSuite)!;
    this.#transcript = createHash('sha256').update(this.#hello);
    this.#hash(message);
    this.#serverRandom = ownCopy(hello.random);
    this.#suite = suite;
    this.#sessionId = ownCopy(hello.sessionId);
    this.#ems = hello.extensions.some((e) => e.type === ExtensionType.extendedMasterSecret);
    const resume = this.#host.resume;
    if (resume !== undefined && resume.id.length > 0 && resume.id.equals(hello.sessionId)) {
      // RFC 7627 5.3: a session resumes only with the extended master secret it was made with.
      if (resume.cipherSuite.id !== suite.id || resume.extendedMasterSecret !== this.#ems) {
        this.#fail(
          'resumed session changes suite or extended master secret',
          AlertDescription.handshakeFailure,
        );
        return;
      }
      this.#master = resume.masterSecret;
      this.#installKeys();
      this.#state = 'await-resumed-finished';
      return;
    }
    this.#state = 'await-hello-done';
  }

  #checkServerHello(hello: ServerHelloFields): { reason: string; alert: number } | undefined {
    if (hello.serverVersion !== DTLS_1_2)
      return { reason: 'server version is not DTLS 1.2', alert: AlertDescription.protocolVersion };
    if (!this.#host.suites.some((s) => s.id === hello.cipherSuite))
      return { reason: 'server chose a suite not offered', alert: AlertDescription.illegalParameter };
    if (hello.compressionMethod !== 0)
      return { reason: 'server chose compression', alert: AlertDescription.illegalParameter };
    for (const ext of hello.extensions) {
      const fine =
        (ext.type === ExtensionType.extendedMasterSecret && ext.data.length === 0) ||
        (ext.type === ExtensionType.renegotiationInfo && ext.data.length === 1 && ext.data[0] === 0);
      if (!fine)
        return { reason: `server sent extension ${ext.type}`, alert: AlertDescription.unsupportedExtension };
    }
    return undefined;
  }

  #onServerKeyExchange(message: HandshakeMessage): void {
    try {
      parsePskServerKeyExchange(message.body); // an identity hint: our identity is fixed
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.#fail('malformed ServerKeyExchange', AlertDescription.decodeError);
      return;
    }
    this.#hash(message);
  }

  #sendKeyExchange(): void {
    const { identity, key } = this.#host.credentials;
    const keyExchange = this.#message(HandshakeType.clientKeyExchange, encodePskClientKeyExchange(identity));
    const premaster = pskPremasterSecret(key);
    this.#master = ownCopy(
      this.#ems
        ? extendedMasterSecret(premaster, this.#transcriptHash())
        : masterSecret(premaster, this.#random, this.#serverRandom),
    );
    premaster.fill(0);
    this.#installKeys();
    this.#host.records.installWrite(1, this.#pendingWrite!);
    this.#pendingWrite = undefined;
    const finished = this.#finished();
    this.#state = 'await-finished';
    this.#flights.send([keyExchange, CHANGE_CIPHER_SPEC, finished, ...this.#firstData()], this.#noAnswer);
  }

  #onFinished(message: HandshakeMessage): void {
    const expected = finishedVerifyData(this.#master!, 'server finished', this.#transcriptHash());
    if (message.body.length !== expected.length || !timingSafeEqual(message.body, expected)) {
      this.#fail('server Finished does not verify', AlertDescription.decryptError);
      return;
    }
    this.#hash(message);
    this.#flights.stop();
    const resumed = this.#state === 'await-resumed-finished';
    if (resumed) {
      this.#host.records.installWrite(1, this.#pendingWrite!);
      this.#pendingWrite = undefined;
      // Our final flight: no timer, it goes again when the server's flight comes again.
      this.#flights.send([CHANGE_CIPHER_SPEC, this.#finished(), ...this.#firstData()]);
    } else {
      this.#flights.clear();
    }
    this.#state = 'done';
    const suite = this.#suite!;
    this.#host.established({
      cipherSuite: suite,
      resumed,
      session:
        this.#sessionId.length === 0
          ? undefined
          : {
              id: this.#sessionId,
              masterSecret: this.#master!,
              cipherSuite: suite,
              extendedMasterSecret: this.#ems,
            },
    });
  }

  #installKeys(): void {
    const suite = this.#suite!;
    const keys = deriveKeys(suite, this.#master!, this.#serverRandom, this.#random);
    this.#host.records.installRead(1, suite.protection(keys.server));
    this.#pendingWrite = suite.protection(keys.client);
  }

  #sendHello(cookie: Buffer): void {
    const resume = this.#host.resume;
    const body = encodeClientHello({
      random: this.#random,
      sessionId: resume?.id ?? EMPTY,
      cookie,
      cipherSuites: this.#host.suites.map((s) => s.id),
    });
    this.#helloSeq = this.#nextSendSeq++;
    this.#hello = encodeHandshake(HandshakeType.clientHello, this.#helloSeq, body);
    // The server answers a ClientHello with the same message_seq (RFC 6347 4.2.2).
    this.#reassembler = new Reassembler(this.#helloSeq, REASSEMBLY);
    this.#flights.send([{ type: ContentType.handshake, epoch: 0, payload: this.#hello }], this.#noAnswer);
  }

  #finished(): FlightEntry {
    const verify = finishedVerifyData(this.#master!, 'client finished', this.#transcriptHash());
    return { ...this.#message(HandshakeType.finished, verify), epoch: 1 };
  }

  /** The first application record, in our final flight (and with each resend of it). */
  #firstData(): FlightEntry[] {
    const data = this.#host.firstData;
    return data === undefined ? [] : [{ type: ContentType.applicationData, epoch: 1, payload: data }];
  }

  #message(type: number, body: Buffer): FlightEntry {
    const payload = encodeHandshake(type, this.#nextSendSeq++, body);
    this.#transcript!.update(payload);
    return { type: ContentType.handshake, epoch: 0, payload };
  }

  #hash(message: HandshakeMessage): void {
    this.#transcript?.update(encodeHandshake(message.msgType, message.messageSeq, message.body));
  }

  #transcriptHash(): Buffer {
    return this.#transcript!.copy().digest();
  }

  #fail(reason: string, alert?: number): void {
    if (this.#state === 'failed') return;
    this.#state = 'failed';
    this.#flights.stop();
    this.#host.failed(reason, alert);
  }

  /** Stops the handshake from the outside (the connection went away); no alert. */
  abort(): void {
    this.#state = 'failed';
    this.#flights.stop();
  }
}
