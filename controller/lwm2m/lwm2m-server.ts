import { EventEmitter } from 'node:events';
import { normaliseAddress, type Peer } from '../coap/address.js';
import { methodOf } from '../coap/codes.js';
import { FixedDelayQueue } from '../coap/fixed-delay-queue.js';
import type { InboundRequest } from '../coap/inbound-exchanges.js';
import { CoapOption, optionValues, uintOption } from '../coap/options.js';
import { type RequestHandler, Routes } from '../coap/route.js';
import type { CoapServer, CoapServerOptions } from '../coap/server.js';
import { type CoapTiming, FLEET_TIMING } from '../coap/timing.js';
import type { DatagramTransport, SecurityMode } from '../coap/transport.js';
import { udpTransport } from '../coap/udp-transport.js';
import type { CredentialDirectory } from '../credentials/index.js';
import type { ContentFormatId } from './content-format.js';
import { DeviceClient, type DeviceClientDeps } from './downlink/device-client.js';
import type { DeviceTarget, RequestGate } from './downlink/dispatcher.js';
import { QueueModeDispatcher } from './downlink/queue-mode-dispatcher.js';
import type { NotificationResult } from './downlink/results.js';
import { defaultModel, type ObjectModel } from './model/index.js';
import { ObservationRegistry } from './observations/observation-registry.js';
import { authoriseRegister } from './registration/register-authority.js';
import type { Registration } from './registration/registration.js';
import {
  ANSWER_CODE,
  forbidden,
  handleRegistration,
  type RegisterRefusal,
  type RegistrationOutcome,
  type RegistrationRequest,
  registerEndpointOf,
} from './registration/registration-handler.js';
import { RegistrationStore } from './registration/registration-store.js';
import { CoapStack } from './transport/coap-stack.js';
import { type DtlsTransportOptions, dtlsTransport } from './transport/dtls-transport.js';
import { bindUdpSocket, type UdpFamily } from './transport/udp-socket.js';

/** The subset of a pino logger this module uses. */
export interface Lwm2mLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface Lwm2mServerOptions {
  /**
   * Plain CoAP's UDP port; 0 picks a free one (see `address()`), 'off' serves no plain CoAP (then
   * `coaps` must be given). Default 5683.
   */
  readonly port?: number | 'off';
  /** Default '::' (IPv6 and IPv4); an IPv4 address binds udp4. Both transports bind it. */
  readonly host?: string;
  readonly family?: UdpFamily;
  /** CoAP over DTLS with pre-shared keys (coaps://) on its own UDP port; needs `credentials`. */
  readonly coaps?: { readonly port: number; readonly dtls?: DtlsTransportOptions };
  /** Devices' pre-shared keys, and which endpoints have them (those are refused over plain CoAP). */
  readonly credentials?: CredentialDirectory;
  /** Epoch ms; inject to test lifetimes and queue mode. */
  readonly clock?: () => number;
  readonly logger?: Lwm2mLogger;
  readonly timing?: Partial<CoapTiming>;
  /** How often `expire(now)` runs; 0 disables the timer. Default 5 s. */
  readonly expirySweepMs?: number;
  /** Slack after a lifetime ends before the registration expires. Default 0. */
  readonly expiryGraceMs?: number;
  /** How long a queue-mode device listens after Register/Update. Default 93 s (MAX_TRANSMIT_WAIT). */
  readonly queueAwakeMs?: number;
  readonly maxQueuedPerDevice?: number;
  readonly maxCachedResponses?: number;
  /** Largest request body, also when sent in blocks (Block1). Default 64 KiB. */
  readonly maxBodyBytes?: number;
  /** Bounds of unfinished block-wise (Block1) request bodies; defaults in DEFAULT_BLOCK1_LIMITS. */
  readonly block1?: CoapServerOptions['block1'];
  readonly model?: ObjectModel;
  /**
   * Called before a Register or Update is answered, so the caller can persist it first: a
   * controller killed right after answering then still knows the device. The answer waits for
   * it at most `persistWaitMs` (default 1 s); past that, or if it fails, the answer goes out
   * anyway (the write stays queued) so a slow or absent database never stops registrations.
   */
  readonly beforeAnswer?: (change: RegistrationChange) => Promise<void>;
  readonly persistWaitMs?: number;
}

export type RegistrationChange =
  | {
      readonly kind: 'registered';
      readonly registration: Registration;
      readonly previous: Registration | undefined;
    }
  | { readonly kind: 'updated'; readonly registration: Registration; readonly previous: Registration };

export interface RegisteredEvent {
  readonly registration: Registration;
  /** The registration this one replaced (same endpoint registered again without de-registering). */
  readonly previous: Registration | undefined;
}
export interface UpdatedEvent {
  readonly registration: Registration;
  readonly previous: Registration;
}
export interface RegistrationEndedEvent {
  readonly registration: Registration;
}
/**
 * A registration request refused for who sent it: a Register the sender may not make (4.03), or an
 * Update or De-register of a known registration from another source (4.04, as an unknown id).
 */
export interface RegistrationRefusedEvent {
  readonly operation: 'register' | 'update' | 'deregister';
  readonly endpoint: string;
  /** Where the refused request came from (with its DTLS identity, if any). */
  readonly peer: Peer;
  readonly security: SecurityMode;
  /** Why, for a Register; an Update or De-register is refused for its source. */
  readonly reason: RegisterRefusal | 'another-source';
}
export interface NotificationEvent {
  readonly endpoint: string;
  readonly path: string;
  readonly notification: NotificationResult;
}

export interface Lwm2mServerEvents {
  registered: [RegisteredEvent];
  updated: [UpdatedEvent];
  deregistered: [RegistrationEndedEvent];
  expired: [RegistrationEndedEvent];
  refused: [RegistrationRefusedEvent];
  notification: [NotificationEvent];
}

/** Serves a request to a route: answer it exactly once with `req.answer`. */
export type RouteHandler = RequestHandler;

/** How a registration request is answered: a code, the new registration's id, or why not. */
interface RegistrationAnswer {
  readonly code: string;
  readonly locationId?: string;
  readonly message?: string;
}

/** A Register or Update answered once its row is persisted, or when the wait for that ends. */
class HeldAnswer {
  #sent = false;
  constructor(
    readonly waits: FixedDelayQueue<HeldAnswer>,
    readonly send: () => void,
  ) {}

  release(): void {
    if (this.#sent) return;
    this.#sent = true;
    this.waits.delete(this);
    this.send();
  }
}

const RD = Buffer.from('rd');

const silentLogger: Lwm2mLogger = { debug() {}, warn() {}, error() {} };

/**
 * The LwM2M server: registration interface, device management and observe, over plain CoAP and/or
 * CoAP over DTLS, each on one UDP socket shared by its server and client sides. A registration
 * remembers the transport it came over; every request to the device goes out through it.
 */
export class Lwm2mServer extends EventEmitter<Lwm2mServerEvents> {
  readonly #stacks = new Map<SecurityMode, CoapStack>();
  readonly #store = new RegistrationStore();
  readonly #queue: QueueModeDispatcher;
  readonly #clock: () => number;
  readonly #log: Lwm2mLogger;
  readonly #beforeAnswer: Lwm2mServerOptions['beforeAnswer'];
  readonly #credentials: CredentialDirectory | undefined;
  /** Answers held for `beforeAnswer`, released when it settles or after `persistWaitMs`. */
  readonly #held: FixedDelayQueue<HeldAnswer>;
  readonly #graceMs: number;
  readonly #model: ObjectModel;
  readonly #routes = new Routes();
  /** Every live observation of a device, tracked once (device sync asks it too). */
  readonly observations = new ObservationRegistry();
  readonly #formatMemory = new Map<string, ContentFormatId>();
  readonly #deviceDeps: DeviceClientDeps;
  readonly #sweep: NodeJS.Timeout | undefined;
  #stopped = false;

  private constructor(
    transports: readonly DatagramTransport[],
    opts: Lwm2mServerOptions,
    timing: CoapTiming,
  ) {
    super();
    this.#clock = opts.clock ?? Date.now;
    this.#log = opts.logger ?? silentLogger;
    this.#beforeAnswer = opts.beforeAnswer;
    this.#credentials = opts.credentials;
    this.#held = new FixedDelayQueue(opts.persistWaitMs ?? 1_000, (held) => held.release());
    this.#graceMs = opts.expiryGraceMs ?? 0;
    this.#model = opts.model ?? defaultModel;
    const stackOptions = {
      maxCachedResponses: opts.maxCachedResponses ?? 20_000,
      maxBodyBytes: opts.maxBodyBytes ?? 64 * 1024,
      ...(opts.block1 === undefined ? {} : { block1: opts.block1 }),
      now: this.#clock,
      onError: (msg: string, err: unknown) => this.#log.warn({ err }, msg),
    };
    for (const transport of transports) {
      const stack = new CoapStack(
        transport,
        (req) => this.#onRequest(req, transport.security),
        stackOptions,
        timing,
        this.#clock,
      );
      this.#stacks.set(transport.security, stack);
    }
    this.#queue = new QueueModeDispatcher((ep) => this.#target(ep), {
      awakeMs: opts.queueAwakeMs ?? 93_000,
      maxQueued: opts.maxQueuedPerDevice ?? 16,
      clock: this.#clock,
    });
    this.#deviceDeps = {
      dispatcher: this.#queue,
      registration: (ep) => this.#store.byEndpoint(ep),
      model: this.#model,
      formatMemory: this.#formatMemory,
      observations: this.observations,
      onNotification: (endpoint, path, notification) =>
        this.#emit('notification', { endpoint, path, notification }),
    };
    const sweepMs = opts.expirySweepMs ?? 5000;
    if (sweepMs > 0) {
      this.#sweep = setInterval(() => this.expire(this.#clock()), sweepMs);
      this.#sweep.unref();
    }
  }

  /** Binds the sockets and starts serving. Throws when a port cannot be bound. */
  static async start(opts: Lwm2mServerOptions = {}): Promise<Lwm2mServer> {
    const timing: CoapTiming = { ...FLEET_TIMING, ...opts.timing };
    const plainPort = opts.port ?? 5683;
    if (plainPort === 'off' && opts.coaps === undefined) {
      throw new Error('neither plain CoAP nor CoAP over DTLS is enabled');
    }
    if (opts.coaps !== undefined && opts.credentials === undefined) {
      throw new Error('CoAP over DTLS needs a credential directory');
    }
    const warnings: string[] = [];
    const transports: DatagramTransport[] = [];
    const bind = async (port: number) => {
      const bound = await bindUdpSocket({
        port,
        ...(opts.host === undefined ? {} : { host: opts.host }),
        ...(opts.family === undefined ? {} : { family: opts.family }),
      });
      if (bound.kind === 'error') throw new Error(bound.message, { cause: bound.cause });
      if (bound.bound.receiveBufferWarning) warnings.push(bound.bound.receiveBufferWarning);
      return bound.bound.socket;
    };
    const log = opts.logger ?? silentLogger;
    try {
      if (plainPort !== 'off') {
        transports.push(udpTransport(await bind(plainPort), (err) => log.error({ err }, 'udp socket error')));
      }
      if (opts.coaps !== undefined && opts.credentials !== undefined) {
        const socket = await bind(opts.coaps.port);
        socket.on('error', (err) => log.error({ err }, 'dtls socket error'));
        const { transport } = dtlsTransport({
          socket,
          credentials: opts.credentials,
          ...(opts.coaps.dtls === undefined ? {} : { dtls: opts.coaps.dtls }),
        });
        transports.push(transport);
      }
    } catch (err) {
      await Promise.all(transports.map((t) => t.close()));
      throw err;
    }
    const server = new Lwm2mServer(transports, opts, timing);
    for (const warning of warnings) server.#log.warn({}, warning);
    return server;
  }

  /** Stops serving: pending requests end `unreachable`, queued ones too; the sockets close. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#sweep);
    this.#held.clear();
    for (const reg of this.#store.values()) this.#queue.drop(reg.endpoint, 'server stopped');
    await Promise.all([...this.#stacks.values()].map((stack) => stack.close()));
  }

  /**
   * The local address of a transport's socket: plain CoAP's by default (CoAP over DTLS's when plain
   * CoAP is off). Throws for a transport the server does not serve.
   */
  address(security?: SecurityMode): {
    readonly address: string;
    readonly port: number;
    readonly family: UdpFamily;
  } {
    const stack = this.#stacks.get(security ?? (this.#stacks.has('none') ? 'none' : 'psk'));
    if (stack === undefined) throw new Error(`not serving ${security === 'psk' ? 'coaps' : 'coap'}`);
    const a = stack.transport.address();
    return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'udp6' : 'udp4' };
  }

  /** Whether the server serves a transport (plain CoAP: 'none', CoAP over DTLS: 'psk'). */
  serves(security: SecurityMode): boolean {
    return this.#stacks.has(security);
  }

  registrations(): IterableIterator<Registration> {
    return this.#store.values();
  }

  registration(endpoint: string): Registration | undefined {
    return this.#store.byEndpoint(endpoint);
  }

  /** Loads registrations kept elsewhere (after a restart) so their Updates keep being served. No events. */
  restoreRegistrations(list: Iterable<Registration>): void {
    for (const reg of list) this.#store.add(reg);
  }

  /** Expires every registration whose lifetime ended before `now`; emits 'expired' for each. */
  expire(now: number): Registration[] {
    const expired = this.#store.removeExpired(now, this.#graceMs);
    for (const registration of expired) {
      this.#forget(registration.endpoint, 'registration expired');
      this.#emit('expired', { registration });
    }
    return expired;
  }

  /**
   * Requests to one device. `gate`: what its requests give back while they wait for it to wake
   * (queue mode), and check right before they are sent (see RequestGate).
   */
  device(endpoint: string, gate?: RequestGate): DeviceClient {
    return new DeviceClient(endpoint, this.#deviceDeps, gate);
  }

  /** Requests waiting for a queue-mode device to wake up. */
  queuedRequests(endpoint: string): number {
    return this.#queue.queued(endpoint);
  }

  /** True when a device is registered from this address (any port; IPv4 peers as a.b.c.d or ::ffff:a.b.c.d). */
  hasRegistrationFrom(address: string): boolean {
    return this.#store.hasAddress(normaliseAddress(address));
  }

  /** Unfinished block-wise (Block1) request bodies, the source addresses sending them and the bytes held. */
  block1Usage(): CoapServer['block1Usage'] {
    const usage = { transfers: 0, sources: 0, bytes: 0 };
    for (const stack of this.#stacks.values()) {
      const u = stack.server.block1Usage;
      usage.transfers += u.transfers;
      usage.sources += u.sources;
      usage.bytes += u.bytes;
    }
    return usage;
  }

  /** Serves CoAP requests whose Uri-Path starts with `pathPrefix` (e.g. '/fw/') on this server's socket. */
  addRoute(pathPrefix: string, handler: RouteHandler): void {
    if (pathPrefix.split('/').find((s) => s !== '') === 'rd') {
      throw new Error('the /rd prefix belongs to the registration interface');
    }
    this.#routes.add(pathPrefix, handler);
  }

  /** The device's registration and the transport it registered over (a restored one may have none). */
  #target(endpoint: string): DeviceTarget | undefined {
    const registration = this.#store.byEndpoint(endpoint);
    if (registration === undefined) return undefined;
    const stack = this.#stacks.get(registration.security);
    if (stack === undefined) return undefined;
    return {
      registration,
      peer: stack.peerOf(registration.address, registration.port),
      requester: stack.requester,
    };
  }

  #onRequest(req: InboundRequest, security: SecurityMode): void {
    if (optionValues(req.packet.options, CoapOption.URI_PATH)[0]?.equals(RD)) {
      this.#onRegistrationRequest(req, security);
      return;
    }
    const handler = this.#routes.find(req);
    if (handler === undefined) req.answer({ code: '4.04' });
    else handler(req);
  }

  /** A request to the registration interface (its body reassembled if it came in blocks). */
  #onRegistrationRequest(req: InboundRequest, security: SecurityMode): void {
    const { packet, peer } = req;
    const options = packet.options;
    const request: RegistrationRequest = {
      method: methodOf(packet.code),
      pathAfterRd: optionValues(options, CoapOption.URI_PATH).slice(1),
      query: optionValues(options, CoapOption.URI_QUERY),
      contentFormat: uintOption(options, CoapOption.CONTENT_FORMAT),
      payload: packet.payload,
      peer,
      security,
    };
    const respond = (answer: RegistrationAnswer) =>
      req.answer({
        code: answer.code,
        ...(answer.locationId === undefined
          ? {}
          : {
              options: [
                { name: CoapOption.LOCATION_PATH, value: RD },
                { name: CoapOption.LOCATION_PATH, value: Buffer.from(answer.locationId) },
              ],
            }),
        ...(answer.message === undefined ? {} : { payload: Buffer.from(answer.message) }),
      });
    const endpoint = registerEndpointOf(request);
    if (endpoint === undefined || (security === 'none' && this.#credentials === undefined)) {
      this.#onRegistration(request, respond);
      return;
    }
    // The directory answers from its cache or the database; duplicates of the request meanwhile are
    // recognised by the exchange layer, so it is handled once.
    authoriseRegister(this.#credentials, request, endpoint, {
      registeredSecurely: (ep) => this.#store.byEndpoint(ep)?.security === 'psk',
      onLookupFailure: (err) =>
        this.#log.warn(
          { err, endpoint },
          'credential lookup failed; plain-CoAP Register judged by its last registration',
        ),
    }).then(
      (refusal) => {
        if (this.#stopped) return;
        // Out of the exchange layer's try/catch now: a throw here would be an unhandled rejection.
        try {
          if (refusal === undefined) this.#onRegistration(request, respond);
          else this.#refuseRegister(request, endpoint, refusal, respond);
        } catch (err) {
          this.#log.error({ err, endpoint }, 'handling a Register failed');
          respond({ code: '5.00' });
        }
      },
      (err: unknown) => {
        if (this.#stopped) return;
        this.#log.warn({ err, endpoint }, 'credential lookup failed; Register answered 5.03');
        respond({ code: '5.03', message: 'credentials unavailable' });
      },
    );
  }

  #refuseRegister(
    request: RegistrationRequest,
    endpoint: string,
    reason: RegisterRefusal,
    respond: (answer: RegistrationAnswer) => void,
  ): void {
    const outcome = forbidden(endpoint, reason);
    this.#log.debug({ peer: request.peer, endpoint, reason }, 'Register refused');
    respond({ code: outcome.code, message: outcome.message });
    this.#emit('refused', {
      operation: 'register',
      endpoint,
      peer: request.peer,
      security: request.security,
      reason,
    });
  }

  #onRegistration(request: RegistrationRequest, respond: (answer: RegistrationAnswer) => void): void {
    const outcome = handleRegistration({ store: this.#store, now: this.#clock }, request);
    if (outcome.kind === 'rejected') {
      this.#log.debug({ peer: request.peer, code: outcome.code }, outcome.message);
      respond({ code: outcome.code, message: outcome.message });
      return;
    }
    if (outcome.kind === 'refused') {
      const { endpoint } = outcome.registration;
      this.#log.debug(
        { peer: request.peer, endpoint, operation: outcome.operation },
        'registration request from another address or port refused',
      );
      respond({ code: outcome.code, message: outcome.message });
      this.#emit('refused', {
        operation: outcome.operation,
        endpoint,
        peer: request.peer,
        security: request.security,
        reason: 'another-source',
      });
      return;
    }
    if (outcome.kind === 'forbidden') {
      this.#refuseRegister(request, outcome.endpoint, outcome.reason, respond);
      return;
    }
    const code = ANSWER_CODE[outcome.kind];
    const answer = () => {
      respond(outcome.kind === 'registered' ? { code, locationId: outcome.registration.id } : { code });
      this.#afterAnswer(outcome);
    };
    if (this.#beforeAnswer === undefined || outcome.kind === 'deregistered') {
      answer();
      return;
    }
    const held = new HeldAnswer(this.#held, () => {
      try {
        answer();
      } catch (err) {
        this.#log.error({ err, endpoint: outcome.registration.endpoint }, 'answering a registration failed');
      }
    });
    this.#held.add(held);
    this.#beforeAnswer(outcome).then(
      () => held.release(),
      (err: unknown) => {
        this.#log.warn(
          { err, endpoint: outcome.registration.endpoint },
          'persisting a registration failed; answering anyway',
        );
        held.release();
      },
    );
  }

  /** Side effects of a registration change, once the answer is on its way. */
  #afterAnswer(outcome: Exclude<RegistrationOutcome, { kind: 'rejected' | 'refused' | 'forbidden' }>): void {
    const { endpoint } = outcome.registration;
    switch (outcome.kind) {
      // A queue-mode device listens from its Register or Update on: marked so before the event, so
      // that what its listeners ask is sent at once (behind what waited), not taken for a sleeper's.
      case 'registered':
        if (outcome.previous !== undefined) this.observations.dropEndpoint(endpoint);
        this.#formatMemory.delete(endpoint);
        if (outcome.registration.queueMode) this.#queue.wake(endpoint);
        this.#emit('registered', { registration: outcome.registration, previous: outcome.previous });
        return;
      case 'updated':
        if (outcome.registration.queueMode) this.#queue.wake(endpoint);
        this.#emit('updated', { registration: outcome.registration, previous: outcome.previous });
        return;
      case 'deregistered':
        this.#forget(endpoint, 'de-registered');
        this.#emit('deregistered', { registration: outcome.registration });
        return;
    }
  }

  #forget(endpoint: string, reason: string): void {
    this.observations.dropEndpoint(endpoint);
    this.#queue.drop(endpoint, reason);
    this.#formatMemory.delete(endpoint);
  }

  #emit<K extends keyof Lwm2mServerEvents>(event: K, ...args: Lwm2mServerEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: Lwm2mServerEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.#log.error({ err, event }, 'event listener threw');
    }
  }
}
