import { ContentFormat } from '../../lwm2m/content-format.js';
import { type Link, serializeLinkFormat } from '../../lwm2m/link-format.js';
import type { ClockTimer } from '../clock.js';
import { CoapOption, Code, pathOptions, uintOption } from '../coap/coap-message.js';
import type { UdpEndpoint } from '../coap/udp-endpoint.js';
import type { DeviceContext } from './device-context.js';

const DEFAULT_QUEUE_AWAKE_S = 93;

/** Register, periodic Update, retry with back-off, queue-mode sleep and the expire fault's offline spell. */
export class RegistrationClient {
  readonly #ctx: DeviceContext;
  #timer: ClockTimer | undefined;
  #sleepTimer: ClockTimer | undefined;
  #registerRetryMs: number;
  #expired = false;

  constructor(ctx: DeviceContext) {
    this.#ctx = ctx;
    this.#registerRetryMs = ctx.options.registerRetryMs ?? 5000;
  }

  /** Stops the Update, retry, offline and sleep timers. */
  cancelTimers(): void {
    this.#ctx.clock.clearTimeout(this.#timer);
    this.#ctx.clock.clearTimeout(this.#sleepTimer);
  }

  async register(): Promise<void> {
    const ctx = this.#ctx;
    const socket = ctx.socket;
    const generation = ctx.generation;
    if (socket === undefined || ctx.stopped) return;
    ctx.clock.clearTimeout(this.#timer);
    socket.deaf = false;
    const server = ctx.server;
    const outcome = await socket.request(server, {
      code: Code.POST,
      options: [
        ...pathOptions(CoapOption.URI_PATH, 'rd'),
        { number: CoapOption.CONTENT_FORMAT, value: uintOption(ContentFormat.LINK_FORMAT) },
        ...this.#registerQuery().map((q) => ({ number: CoapOption.URI_QUERY, value: Buffer.from(q) })),
      ],
      payload: registrationBody(),
    });
    if (generation !== ctx.generation) return;
    if (outcome.kind === 'response') ctx.failover.answered();
    if (outcome.kind === 'response' && outcome.message.code === Code.CREATED) {
      const location = outcome.message.options
        .filter((o) => o.number === CoapOption.LOCATION_PATH)
        .map((o) => o.value.toString('utf8'))
        .join('/');
      ctx.location = `/${location}`;
      this.#registerRetryMs = ctx.options.registerRetryMs ?? 5000;
      ctx.parts.notifications.clear();
      ctx.emit({ kind: 'registered', endpoint: ctx.endpoint, port: socket.port, location: ctx.location });
      this.afterContact();
      return;
    }
    ctx.location = undefined;
    const detail =
      outcome.kind === 'response'
        ? `server answered ${outcome.message.code >> 5}.${outcome.message.code & 31}`
        : outcome.kind;
    ctx.emit({ kind: 'registration-failed', endpoint: ctx.endpoint, detail });
    if (outcome.kind === 'closed') return;
    // No answer (a dead server, or one that resets us): the next server, at once while this
    // round has one left untried.
    const { moved, retryNow } = ctx.failover.unanswered();
    if (moved) {
      const next = ctx.server;
      ctx.emit({ kind: 'failover', endpoint: ctx.endpoint, from: server, to: next });
      await ctx.parts.power.reconnect();
      if (generation !== ctx.generation) return;
      if (retryNow) {
        await this.register();
        return;
      }
    }
    const delay = this.#registerRetryMs;
    this.#registerRetryMs = Math.min(delay * 2, 300_000);
    this.#timer = ctx.clock.setTimeout(() => void this.register(), delay);
  }

  /** Sends a registration Update now (also used by 1/0/8 and to wake a sleeping queue-mode device). */
  async sendUpdate(): Promise<void> {
    const ctx = this.#ctx;
    const socket = ctx.socket;
    const generation = ctx.generation;
    if (socket === undefined || ctx.location === undefined || ctx.offline) return;
    ctx.clock.clearTimeout(this.#timer);
    socket.deaf = false;
    const outcome = await socket.request(ctx.server, {
      code: Code.POST,
      options: pathOptions(CoapOption.URI_PATH, ctx.location),
    });
    if (generation !== ctx.generation) return;
    if (outcome.kind === 'response' && outcome.message.code === Code.CHANGED) {
      ctx.emit({ kind: 'updated', endpoint: ctx.endpoint });
      this.afterContact();
      return;
    }
    if (outcome.kind === 'closed') return;
    // 4.04 (the server forgot us), other errors and timeouts: register anew, with this server
    // first (a Register it leaves unanswered too falls over to the next one).
    ctx.location = undefined;
    await this.register();
  }

  /** Sends De-register for the current location over `socket`; true when the server answered. */
  async deregister(socket: UdpEndpoint): Promise<boolean> {
    const location = this.#ctx.location;
    if (location === undefined) return false;
    socket.deaf = false;
    const outcome = await socket.request(this.#ctx.server, {
      code: Code.DELETE,
      options: pathOptions(CoapOption.URI_PATH, location),
    });
    return outcome.kind === 'response';
  }

  /** After a successful Register/Update: schedule the next Update, open the queue-mode awake window. */
  afterContact(): void {
    const ctx = this.#ctx;
    ctx.clock.clearTimeout(this.#timer);
    this.#timer = ctx.clock.setTimeout(() => void this.#onUpdateDue(), ctx.values.lifetime * 800);
    if (ctx.queueMode && ctx.socket !== undefined) {
      ctx.socket.deaf = false;
      ctx.clock.clearTimeout(this.#sleepTimer);
      const awakeMs = (ctx.faults.get('queue-mode') ?? DEFAULT_QUEUE_AWAKE_S) * 1000;
      this.#sleepTimer = ctx.clock.setTimeout(() => {
        if (ctx.socket !== undefined) ctx.socket.deaf = true;
      }, awakeMs);
    }
  }

  #registerQuery(): string[] {
    const ctx = this.#ctx;
    const version = ctx.options.lwm2mVersion ?? '1.1';
    const query = [`ep=${ctx.endpoint}`, `lt=${ctx.values.lifetime}`, `lwm2m=${version}`];
    if (version === '1.0') query.push(`b=${ctx.queueMode ? 'UQ' : 'U'}`);
    else {
      query.push('b=U');
      if (ctx.queueMode) query.push('Q');
    }
    return query;
  }

  async #onUpdateDue(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.faults.has('expire') && !this.#expired) {
      this.#expired = true;
      this.#goOffline((ctx.faults.get('expire') ?? ctx.values.lifetime * 2) * 1000);
      return;
    }
    await this.sendUpdate();
  }

  #goOffline(forMs: number): void {
    const ctx = this.#ctx;
    ctx.offline = true;
    if (ctx.socket !== undefined) ctx.socket.deaf = true;
    ctx.emit({ kind: 'offline', endpoint: ctx.endpoint, forMs });
    this.#timer = ctx.clock.setTimeout(() => {
      ctx.offline = false;
      ctx.location = undefined;
      ctx.emit({ kind: 'online', endpoint: ctx.endpoint });
      void this.register();
    }, forMs);
  }
}

function registrationBody(): Buffer {
  const links: Link[] = [
    { uri: '/1/0', params: {} },
    { uri: '/3/0', params: {} },
    { uri: '/5', params: { ver: '1.2' } },
    { uri: '/5/0', params: {} },
  ];
  return Buffer.from(serializeLinkFormat(links));
}
