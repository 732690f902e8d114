import type { Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { normaliseAddress, type Peer } from '../coap/address.js';
import { methodOf } from '../coap/codes.js';
import { udpSender } from '../coap/datagram-sender.js';
import { FixedDelayQueue } from '../coap/fixed-delay-queue.js';
import type { InboundRequest } from '../coap/inbound-exchanges.js';
import { CoapOption, optionValues, uintOption } from '../coap/options.js';
import { type RequestHandler, Routes } from '../coap/route.js';
import { CoapServer, type CoapServerOptions } from '../coap/server.js';
import { type CoapTiming, FLEET_TIMING } from '../coap/timing.js';
import type { ContentFormatId } from './content-format.js';
import { DeviceClient, type DeviceClientDeps } from './downlink/device-client.js';
import type { DeviceTarget } from './downlink/dispatcher.js';
import { QueueModeDispatcher } from './downlink/queue-mode-dispatcher.js';
import type { NotificationResult } from './downlink/results.js';
import { defaultModel, type ObjectModel } from './model/index.js';
import { ObservationRegistry } from './observations/observation-registry.js';
import type { Registration } from './registration/registration.js';
import {
  ANSWER_CODE,
  handleRegistration,
  type RegistrationOutcome,
  type RegistrationRequest,
} from './registration/registration-handler.js';
import { RegistrationStore } from './registration/registration-store.js';
import { CoapRequester } from './transport/requester.js';
import { bindUdpSocket, type UdpFamily } from './transport/udp-socket.js';

/** The subset of a pino logger this module uses. */
export interface Lwm2mLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface Lwm2mServerOptions {
  /** UDP port; 0 picks a free one (see `address()`). Default 5683. */
  readonly port?: number;
  /** Default '::' (IPv6 and IPv4); an IPv4 address binds udp4. */
  readonly host?: string;
  readonly family?: UdpFamily;
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
/** An Update or De-register of a known registration from an address or port it was not made from. */
export interface RegistrationRefusedEvent {
  readonly operation: 'update' | 'deregister';
  readonly endpoint: string;
  /** Where the refused request came from. */
  readonly peer: Peer;
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

/** The LwM2M server: registration interface, device management and observe on one UDP socket. */
export class Lwm2mServer extends EventEmitter<Lwm2mServerEvents> {
  readonly #socket: Socket;
  readonly #coap: CoapServer;
  readonly #requester: CoapRequester;
  readonly #store = new RegistrationStore();
  readonly #queue: QueueModeDispatcher;
  readonly #clock: () => number;
  readonly #log: Lwm2mLogger;
  readonly #beforeAnswer: Lwm2mServerOptions['beforeAnswer'];
  /** Answers held for `beforeAnswer`, released when it settles or after `persistWaitMs`. */
  readonly #held: FixedDelayQueue<HeldAnswer>;
  /** A dual-stack socket sends to IPv4 peers as ::ffff:a.b.c.d. */
  readonly #v6Socket: boolean;
  readonly #graceMs: number;
  readonly #model: ObjectModel;
  readonly #routes = new Routes();
  /** Every live observation of a device, tracked once (device sync asks it too). */
  readonly observations = new ObservationRegistry();
  readonly #formatMemory = new Map<string, ContentFormatId>();
  readonly #deviceDeps: DeviceClientDeps;
  readonly #sweep: NodeJS.Timeout | undefined;
  #stopped = false;

  private constructor(socket: Socket, opts: Lwm2mServerOptions, timing: CoapTiming) {
    super();
    this.#socket = socket;
    this.#clock = opts.clock ?? Date.now;
    this.#log = opts.logger ?? silentLogger;
    this.#beforeAnswer = opts.beforeAnswer;
    this.#held = new FixedDelayQueue(opts.persistWaitMs ?? 1_000, (held) => held.release());
    this.#v6Socket = socket.address().family === 'IPv6';
    this.#graceMs = opts.expiryGraceMs ?? 0;
    this.#model = opts.model ?? defaultModel;
    const sender = udpSender(socket);
    this.#requester = new CoapRequester(sender, timing, this.#clock);
    this.#coap = new CoapServer({
      sender,
      onResponse: (packet, peer) => this.#requester.handleIncoming(packet, peer),
      onRequest: (req) => this.#onRequest(req),
      maxCachedResponses: opts.maxCachedResponses ?? 20_000,
      maxBodyBytes: opts.maxBodyBytes ?? 64 * 1024,
      ...(opts.block1 === undefined ? {} : { block1: opts.block1 }),
      now: this.#clock,
      onError: (msg, err) => this.#log.warn({ err }, msg),
      timing,
      nextMessageId: (peer) => this.#requester.nextMessageId(peer),
    });
    socket.on('message', (datagram, rinfo) => this.#coap.receive(datagram, rinfo));
    socket.on('error', (err) => this.#log.error({ err }, 'udp socket error'));
    this.#queue = new QueueModeDispatcher((ep) => this.#target(ep), {
      awakeMs: opts.queueAwakeMs ?? 93_000,
      maxQueued: opts.maxQueuedPerDevice ?? 16,
      clock: this.#clock,
    });
    this.#deviceDeps = {
      dispatcher: this.#queue,
      registration: (ep) => this.#store.byEndpoint(ep),
      requester: this.#requester,
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

  /** Binds the socket and starts serving. Throws when the port cannot be bound. */
  static async start(opts: Lwm2mServerOptions = {}): Promise<Lwm2mServer> {
    const timing: CoapTiming = { ...FLEET_TIMING, ...opts.timing };
    const bound = await bindUdpSocket({
      port: opts.port ?? 5683,
      ...(opts.host === undefined ? {} : { host: opts.host }),
      ...(opts.family === undefined ? {} : { family: opts.family }),
    });
    if (bound.kind === 'error') throw new Error(bound.message);
    const server = new Lwm2mServer(bound.bound.socket, opts, timing);
    if (bound.bound.receiveBufferWarning) server.#log.warn({}, bound.bound.receiveBufferWarning);
    return server;
  }

  /** Stops serving: pending requests end `unreachable`, queued ones too; the socket closes. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#sweep);
    this.#held.clear();
    this.#requester.close();
    for (const reg of this.#store.values()) this.#queue.drop(reg.endpoint, 'server stopped');
    this.#coap.close();
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  address(): { readonly address: string; readonly port: number; readonly family: UdpFamily } {
    const a = this.#socket.address();
    return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'udp6' : 'udp4' };
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

  device(endpoint: string): DeviceClient {
    return new DeviceClient(endpoint, this.#deviceDeps);
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
    return this.#coap.block1Usage;
  }

  /** Serves CoAP requests whose Uri-Path starts with `pathPrefix` (e.g. '/fw/') on this server's socket. */
  addRoute(pathPrefix: string, handler: RouteHandler): void {
    if (pathPrefix.split('/').find((s) => s !== '') === 'rd') {
      throw new Error('the /rd prefix belongs to the registration interface');
    }
    this.#routes.add(pathPrefix, handler);
  }

  #target(endpoint: string): DeviceTarget | undefined {
    const registration = this.#store.byEndpoint(endpoint);
    if (registration === undefined) return undefined;
    return { registration, peer: this.#peerOf(registration) };
  }

  #peerOf(reg: Registration): Peer {
    const address = this.#v6Socket && reg.address.includes('.') ? `::ffff:${reg.address}` : reg.address;
    return { address, port: reg.port };
  }

  #onRequest(req: InboundRequest): void {
    if (optionValues(req.packet.options, CoapOption.URI_PATH)[0]?.equals(RD)) {
      this.#onRegistrationRequest(req);
      return;
    }
    const handler = this.#routes.find(req);
    if (handler === undefined) req.answer({ code: '4.04' });
    else handler(req);
  }

  /** A request to the registration interface (its body reassembled if it came in blocks). */
  #onRegistrationRequest(req: InboundRequest): void {
    const { packet, peer } = req;
    const options = packet.options;
    const request: RegistrationRequest = {
      method: methodOf(packet.code),
      pathAfterRd: optionValues(options, CoapOption.URI_PATH).slice(1),
      query: optionValues(options, CoapOption.URI_QUERY),
      contentFormat: uintOption(options, CoapOption.CONTENT_FORMAT),
      payload: packet.payload,
      peer,
    };
    this.#onRegistration(request, (answer) =>
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
      }),
    );
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
      this.#emit('refused', { operation: outcome.operation, endpoint, peer: request.peer });
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
  #afterAnswer(outcome: Exclude<RegistrationOutcome, { kind: 'rejected' | 'refused' }>): void {
    const { endpoint } = outcome.registration;
    switch (outcome.kind) {
      case 'registered':
        if (outcome.previous !== undefined) this.observations.dropEndpoint(endpoint);
        this.#formatMemory.delete(endpoint);
        this.#emit('registered', { registration: outcome.registration, previous: outcome.previous });
        if (outcome.registration.queueMode) this.#queue.wake(endpoint);
        return;
      case 'updated':
        this.#emit('updated', { registration: outcome.registration, previous: outcome.previous });
        if (outcome.registration.queueMode) this.#queue.wake(endpoint);
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
