import { createHash, type Hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DecodeError } from './byte-reader.js';
import { type CipherSuite, chooseSuite, deriveKeys, suiteById } from './cipher-suites.js';
import type { DtlsClock } from './clock.js';
import {
  AlertDescription,
  ContentType,
  DTLS_1_2,
  EMPTY_RENEGOTIATION_INFO_SCSV,
  ExtensionType,
  HandshakeType,
} from './constants.js';
import type { FlightEntry } from './flight.js';
import { FlightSender } from './flight-sender.js';
import {
  type ClientHello,
  EMPTY,
  type Extension,
  encodeHandshake,
  encodeServerHello,
  extensionData,
  type HandshakeFragment,
  hasExtension,
  parsePskClientKeyExchange,
  serverHelloDone,
} from './handshake-codec.js';
import { ownCopy } from './own-buffer.js';
import { extendedMasterSecret, finishedVerifyData, masterSecret, pskPremasterSecret } from './prf.js';
import { publicRandom } from './public-random.js';
import { type HandshakeMessage, Reassembler, type ReassemblyLimits } from './reassembler.js';
import type { RecordProtection } from './record-protection.js';
import type { RecordState } from './record-state.js';
import type { RetransmitPolicy } from './retransmit-timer.js';
import type { ResumableSession, SessionCache } from './session-cache.js';

export type { FlightEntry } from './flight.js';

/** What a finished handshake hands to its connection. */
export interface Established {
  readonly identity: Buffer;
  readonly cipherSuite: CipherSuite;
  readonly resumed: boolean;
}

export type PskLookup = (identity: Buffer) => Promise<Buffer | undefined>;

/** The endpoint's settings and shared state every handshake uses. */
export interface HandshakeSettings {
  readonly clock: DtlsClock;
  readonly retransmit: RetransmitPolicy;
  readonly suites: readonly CipherSuite[];
  readonly sessions: SessionCache;
  readonly lookupPsk: PskLookup;
  readonly reassembly: ReassemblyLimits;
}

/** What the handshake needs from the connection it runs on. */
export interface HandshakeHost extends HandshakeSettings {
  readonly records: RecordState;
  /** The client's IP address, kept with the session (a resumption from it skips the cookie). */
  readonly address: string;
  /** The ClientHello came without a cookie round: only a resumption may follow (dtls-endpoint.ts). */
  readonly cookieless: boolean;
  /** `why`: a new flight, the timer expired, or the peer sent its previous flight again. */
  sendFlight(flight: readonly FlightEntry[], why: 'new' | 'timer' | 'peer'): void;
  established(result: Established): void;
  /** The handshake is over without a session; `alert` is sent first when given. */
  failed(reason: string, alert?: number): void;
  /** Called when keys for epoch 1 became readable (records held back can be processed now). */
  keysReady(): void;
}

type State =
  | 'await-key-exchange'
  | 'looking-up'
  | 'await-finished'
  | 'await-resumed-finished'
  | 'done'
  | 'failed';

const MAX_IDENTITY = 256;

/** The cached session a ClientHello resumes, and its suite; undefined: a full handshake it is. */
export function resumableSession(
  hello: ClientHello,
  settings: HandshakeSettings,
  now: number,
): { readonly cached: ResumableSession; readonly suite: CipherSuite } | undefined {
  const cached = settings.sessions.find(hello.sessionId, now);
  const suite = cached === undefined ? undefined : suiteById(cached.cipherSuite);
  if (
    cached === undefined ||
    suite === undefined ||
    !settings.suites.includes(suite) ||
    !hello.cipherSuites.includes(suite.id) ||
    // RFC 7627 5.3: a session resumes only with the same choice; otherwise a full handshake.
    cached.extendedMasterSecret !== hasExtension(hello, ExtensionType.extendedMasterSecret)
  )
    return undefined;
  return { cached, suite };
}

/**
 * The server side of one DTLS 1.2 PSK handshake after a valid cookie (RFC 6347 4.2.5, RFC 4279):
 * full (ServerHello, ServerHelloDone / ClientKeyExchange, ChangeCipherSpec, Finished / ChangeCipherSpec,
 * Finished) or abbreviated by session id (ServerHello, ChangeCipherSpec, Finished / ChangeCipherSpec,
 * Finished). No renegotiation, no compression; extended master secret when the client offers it.
 */
export class ServerHandshake {
  readonly #host: HandshakeHost;
  readonly #hello: ClientHello;
  readonly #reassembler: Reassembler;
  readonly #flights: FlightSender;
  /** Our flight's retransmissions are used up. */
  readonly #noAnswer = (): void => this.#fail('no answer to our flight');
  readonly #transcript: Hash = createHash('sha256');
  readonly #serverRandom = publicRandom(32);
  readonly #ems: boolean;
  #state: State = 'await-key-exchange';
  #suite: CipherSuite | undefined;
  #sessionId: Buffer = EMPTY;
  #master: Buffer | undefined;
  #identity: Buffer = EMPTY;
  #keyDigest: Buffer = EMPTY;
  #resumed = false;
  #nextSendSeq: number;
  /** Write protection of epoch 1, installed when our ChangeCipherSpec goes out. */
  #pendingWrite: RecordProtection | undefined;

  constructor(host: HandshakeHost, hello: ClientHello, helloMessage: HandshakeMessage) {
    this.#host = host;
    this.#hello = hello;
    this.#ems = hasExtension(hello, ExtensionType.extendedMasterSecret);
    this.#reassembler = new Reassembler(helloMessage.messageSeq + 1, host.reassembly);
    // RFC 6347 4.2.2: the server's messages continue from the ClientHello's message_seq.
    this.#nextSendSeq = helloMessage.messageSeq;
    this.#flights = new FlightSender(host.clock, host.retransmit, (flight, why) =>
      host.sendFlight(flight, why),
    );
    this.#hash(encodeHandshake(HandshakeType.clientHello, helloMessage.messageSeq, helloMessage.body));
  }

  get clientRandom(): Buffer {
    return this.#hello.random;
  }

  get done(): boolean {
    return this.#state === 'done';
  }

  /** Starts with the client's ClientHello (checked for version and extensions here). */
  start(): void {
    const hello = this.#hello;
    if (hello.clientVersion > DTLS_1_2) {
      this.#fail('client version below DTLS 1.2', AlertDescription.protocolVersion);
      return;
    }
    if (!hello.compressionMethods.includes(0)) {
      this.#fail('no null compression', AlertDescription.handshakeFailure);
      return;
    }
    const renegotiation = extensionData(hello, ExtensionType.renegotiationInfo);
    if (renegotiation !== undefined && !(renegotiation.length === 1 && renegotiation[0] === 0)) {
      this.#fail('renegotiation_info not empty', AlertDescription.handshakeFailure);
      return;
    }
    const resumable = resumableSession(hello, this.#host, this.#host.clock.now());
    if (resumable !== undefined) {
      const { cached, suite } = resumable;
      this.#state = 'looking-up';
      const sessionId = ownCopy(hello.sessionId);
      this.#lookup(cached.identity, (psk) => {
        const digest = psk === undefined ? undefined : createHash('sha256').update(psk).digest();
        if (digest !== undefined && timingSafeEqual(digest, cached.keyDigest)) {
          this.#resume(suite, sessionId, cached.identity, cached.masterSecret, digest);
          return;
        }
        // The credential was removed or changed since: that session is no longer good.
        this.#host.sessions.remove(sessionId);
        // Without a cookie no full handshake: the client's retry gets a HelloVerifyRequest.
        if (this.#host.cookieless) this.#fail('session credential changed; no cookie for a full handshake');
        else this.#full();
      });
      return;
    }
    if (this.#host.cookieless) this.#fail('session to resume without a cookie is gone');
    else this.#full();
  }

  /** A handshake fragment of the client (plaintext of an epoch 0 or 1 record). */
  onFragment(fragment: HandshakeFragment, epoch: number): void {
    if (this.#state === 'failed') return;
    if (fragment.messageSeq < this.#reassembler.next) {
      // A retransmitted flight of the client: ours was lost (RFC 6347 4.2.4).
      if (this.#state !== 'looking-up') this.#flights.resend();
      return;
    }
    if (this.#state === 'done') return;
    for (const message of this.#reassembler.add(fragment, epoch)) {
      if ((this.#state as State) === 'failed') return;
      this.#onMessage(message);
    }
  }

  /**
   * The client sent authentic application data before its Finished came: in an abbreviated
   * handshake that means its final flight was lost. Without a cookie there is no timer to resend
   * ours (which would make the client resend its own), so that data, which a spoofer cannot make,
   * is the prompt (once per datagram).
   */
  onDataBeforeFinished(): void {
    if (this.#state === 'await-resumed-finished') this.#flights.resend();
  }

  close(): void {
    this.#flights.stop();
  }

  #onMessage(message: HandshakeMessage): void {
    if (
      this.#state === 'await-key-exchange' &&
      message.msgType === HandshakeType.clientKeyExchange &&
      message.epoch === 0
    ) {
      this.#onKeyExchange(message);
      return;
    }
    const awaitingFinished = this.#state === 'await-finished' || this.#state === 'await-resumed-finished';
    if (awaitingFinished && message.msgType === HandshakeType.finished && message.epoch === 1) {
      this.#onFinished(message);
      return;
    }
    this.#fail(
      `unexpected handshake message ${message.msgType} in ${this.#state}`,
      AlertDescription.unexpectedMessage,
    );
  }

  #full(): void {
    const suite = chooseSuite(this.#hello.cipherSuites, this.#host.suites);
    if (suite === undefined) {
      this.#fail('no shared cipher suite', AlertDescription.handshakeFailure);
      return;
    }
    this.#suite = suite;
    this.#sessionId = publicRandom(32);
    this.#state = 'await-key-exchange';
    const hello = this.#message(HandshakeType.serverHello, this.#serverHello(suite));
    const done = serverHelloDone(this.#nextSendSeq++);
    this.#hash(done);
    this.#flights.send([hello, { type: ContentType.handshake, epoch: 0, payload: done }], this.#noAnswer);
  }

  #resume(suite: CipherSuite, sessionId: Buffer, identity: Buffer, master: Buffer, keyDigest: Buffer): void {
    this.#suite = suite;
    this.#sessionId = sessionId;
    this.#identity = identity;
    this.#master = master;
    this.#keyDigest = keyDigest;
    this.#resumed = true;
    const hello = this.#message(HandshakeType.serverHello, this.#serverHello(suite));
    this.#installKeys(suite, master, true);
    const finished = this.#finished('server finished');
    this.#state = 'await-resumed-finished';
    // Without a cookie no timer: one answer per ClientHello, the client's timer drives any resend.
    this.#flights.send(
      [hello, { type: ContentType.changeCipherSpec, epoch: 0, payload: Buffer.from([1]) }, finished],
      this.#host.cookieless ? undefined : this.#noAnswer,
    );
    this.#host.keysReady();
  }

  #onKeyExchange(message: HandshakeMessage): void {
    this.#flights.stop();
    let identity: Buffer;
    try {
      identity = ownCopy(parsePskClientKeyExchange(message.body));
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.#fail('malformed ClientKeyExchange', AlertDescription.decodeError);
      return;
    }
    if (identity.length === 0 || identity.length > MAX_IDENTITY) {
      this.#fail('PSK identity empty or too long', AlertDescription.illegalParameter);
      return;
    }
    this.#hash(encodeHandshake(message.msgType, message.messageSeq, message.body));
    const sessionHash = this.#transcriptHash();
    this.#identity = identity;
    this.#state = 'looking-up';
    this.#lookup(identity, (found) => {
      // RFC 4279 2: an unknown identity goes on as if the key were wrong, so the two look alike.
      const psk = found ?? randomBytes(16);
      this.#keyDigest = ownCopy(createHash('sha256').update(psk).digest());
      const premaster = pskPremasterSecret(psk);
      const suite = this.#suite!;
      this.#master = ownCopy(
        this.#ems
          ? extendedMasterSecret(premaster, sessionHash)
          : masterSecret(premaster, this.#hello.random, this.#serverRandom),
      );
      premaster.fill(0);
      this.#installKeys(suite, this.#master, false);
      this.#state = 'await-finished';
      this.#host.keysReady();
    });
  }

  #onFinished(message: HandshakeMessage): void {
    const expected = finishedVerifyData(this.#master!, 'client finished', this.#transcriptHash());
    if (message.body.length !== expected.length || !timingSafeEqual(message.body, expected)) {
      this.#fail('client Finished does not verify', AlertDescription.decryptError);
      return;
    }
    this.#hash(encodeHandshake(message.msgType, message.messageSeq, message.body));
    this.#flights.stop();
    if (!this.#resumed) {
      // Our final flight: no timer, it is sent again when the client's final flight comes again.
      this.#host.records.installWrite(1, this.#pendingWrite!);
      const finished = this.#finished('server finished');
      this.#flights.send([
        { type: ContentType.changeCipherSpec, epoch: 0, payload: Buffer.from([1]) },
        finished,
      ]);
      this.#host.sessions.store(this.#sessionId, {
        masterSecret: this.#master!,
        cipherSuite: this.#suite!.id,
        identity: this.#identity,
        keyDigest: this.#keyDigest,
        extendedMasterSecret: this.#ems,
        createdAt: this.#host.clock.now(),
        address: this.#host.address,
      });
    } else {
      this.#flights.clear();
    }
    this.#state = 'done';
    this.#pendingWrite = undefined;
    this.#host.established({
      identity: this.#identity,
      cipherSuite: this.#suite!,
      resumed: this.#resumed,
    });
  }

  #installKeys(suite: CipherSuite, master: Buffer, writeNow: boolean): void {
    const keys = deriveKeys(suite, master, this.#serverRandom, this.#hello.random);
    this.#host.records.installRead(1, suite.protection(keys.client));
    const write = suite.protection(keys.server);
    if (writeNow) this.#host.records.installWrite(1, write);
    else this.#pendingWrite = write;
  }

  #serverHello(suite: CipherSuite): Buffer {
    const extensions: Extension[] = [];
    const hello = this.#hello;
    if (
      hello.cipherSuites.includes(EMPTY_RENEGOTIATION_INFO_SCSV) ||
      hasExtension(hello, ExtensionType.renegotiationInfo)
    ) {
      // RFC 5746 3.6: secure renegotiation is signalled (and there is none to do).
      extensions.push({ type: ExtensionType.renegotiationInfo, data: Buffer.from([0]) });
    }
    if (this.#ems) extensions.push({ type: ExtensionType.extendedMasterSecret, data: EMPTY });
    return encodeServerHello({
      random: this.#serverRandom,
      sessionId: this.#sessionId,
      cipherSuite: suite.id,
      extensions,
    });
  }

  #finished(label: 'server finished'): FlightEntry {
    const verify = finishedVerifyData(this.#master!, label, this.#transcriptHash());
    return { ...this.#message(HandshakeType.finished, verify), epoch: 1 };
  }

  /** Encodes one of our messages with the next message_seq and adds it to the transcript. */
  #message(type: number, body: Buffer): FlightEntry {
    const payload = encodeHandshake(type, this.#nextSendSeq++, body);
    this.#hash(payload);
    return { type: ContentType.handshake, epoch: 0, payload };
  }

  #lookup(identity: Buffer, then: (psk: Buffer | undefined) => void): void {
    this.#host.lookupPsk(identity).then(
      (psk) => {
        if (this.#state !== 'looking-up') return;
        then(psk);
      },
      () => {
        if (this.#state === 'looking-up') this.#fail('PSK lookup failed', AlertDescription.internalError);
      },
    );
  }

  #hash(message: Buffer): void {
    this.#transcript.update(message);
  }

  #transcriptHash(): Buffer {
    return this.#transcript.copy().digest();
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
