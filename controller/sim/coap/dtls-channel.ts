import {
  type CipherSuite,
  type ClientSession,
  DtlsClientConnection,
  type PskCredentials,
} from '../../dtls/index.js';

/** How a simulated device secures its CoAP: its PSK credentials and, optionally, the suites it offers. */
export interface SimDtlsOptions {
  readonly credentials: PskCredentials;
  /** Default CCM-8 alone. */
  readonly cipherSuites?: readonly CipherSuite[];
  /** A session was made: resumed (abbreviated handshake) or full. */
  readonly onSession?: (info: { readonly resumed: boolean; readonly cipherSuite: string }) => void;
  readonly onHandshakeFailure?: (reason: string) => void;
}

/** Datagrams written while the handshake runs; CoAP retransmits the rest. */
const MAX_QUEUED = 8;

/**
 * One device's DTLS association with its server over the device's socket: the first datagram
 * starts a handshake (resuming the last session when there is one), datagrams wait for it in a
 * short queue, and a device that sleeps drops its connection but keeps the session to resume.
 */
export class DtlsChannel {
  readonly #options: SimDtlsOptions;
  readonly #sendRaw: (datagram: Buffer) => void;
  readonly #deliver: (plain: Buffer) => void;
  #connection: DtlsClientConnection | undefined;
  #session: ClientSession | undefined;
  #queue: Buffer[] = [];

  constructor(
    options: SimDtlsOptions,
    sendRaw: (datagram: Buffer) => void,
    deliver: (plain: Buffer) => void,
  ) {
    this.#options = options;
    this.#sendRaw = sendRaw;
    this.#deliver = deliver;
  }

  /** Sends a CoAP datagram through the session, starting a handshake when there is none. */
  write(plain: Buffer): void {
    const connection = this.#connection;
    if (connection?.established !== undefined && connection.send(plain)) return;
    if (this.#queue.length >= MAX_QUEUED) this.#queue.shift();
    this.#queue.push(plain);
    if (connection === undefined) this.#connect();
  }

  /** A datagram from the server. */
  receive(datagram: Buffer): void {
    this.#connection?.receive(datagram);
  }

  /** The device sleeps: its connection is gone (no close_notify); the session is kept to resume. */
  suspend(): void {
    this.#drop('sleeping', false);
  }

  /** The device shuts down: close_notify, and nothing is kept. */
  close(): void {
    this.#drop('closed', true);
    this.#session = undefined;
  }

  #drop(reason: string, notify: boolean): void {
    const connection = this.#connection;
    this.#connection = undefined;
    this.#queue = [];
    connection?.close(reason, notify);
  }

  #connect(): void {
    const offered = this.#session;
    const connection: DtlsClientConnection = new DtlsClientConnection({
      credentials: this.#options.credentials,
      ...(this.#options.cipherSuites ? { cipherSuites: this.#options.cipherSuites } : {}),
      ...(offered ? { resume: offered } : {}),
      send: this.#sendRaw,
      handlers: {
        established: (info) => {
          if (this.#connection !== connection) return;
          this.#session = info.session;
          this.#options.onSession?.({ resumed: info.resumed, cipherSuite: info.cipherSuite.name });
          const queued = this.#queue;
          this.#queue = [];
          for (const datagram of queued) connection.send(datagram);
        },
        data: (plain) => {
          if (this.#connection === connection) this.#deliver(plain);
        },
        closed: (reason) => {
          if (this.#connection !== connection) return;
          this.#connection = undefined;
          this.#queue = [];
          if (connection.established === undefined) {
            // A session the server would not resume is not offered again.
            this.#session = undefined;
            this.#options.onHandshakeFailure?.(reason);
          }
        },
      },
    });
    this.#connection = connection;
    connection.start();
  }
}
