import type { ContentFormatId } from '../../lwm2m/content-format.js';
import { formatPath, isPrefixOf, type Lwm2mPath, tryParsePath } from '../../lwm2m/path.js';
import { CoapOption, type CoapOptionValue, Code, MessageType, uintOption } from '../coap/coap-message.js';
import type { PeerAddress } from '../coap/udp-endpoint.js';
import type { DeviceContext } from './device-context.js';

export interface Observation {
  readonly token: Buffer;
  readonly path: Lwm2mPath;
  readonly format: ContentFormatId;
  readonly peer: PeerAddress;
}

interface Notification {
  readonly observation: Observation;
  readonly seq: number;
  readonly code: number;
  readonly payload: Buffer;
}

/** The server's observations of this device and the notifications sent for them (RFC 7641). */
export class Notifications {
  readonly #ctx: DeviceContext;
  #observations: Observation[] = [];
  #observeSeq = 2;
  #heldBack: Notification | undefined;
  #inFlight = new Set<Promise<unknown>>();

  constructor(ctx: DeviceContext) {
    this.#ctx = ctx;
  }

  /** Adds an observation, replacing one with the same token. */
  observe(observation: Observation): void {
    this.cancel(observation.token);
    this.#observations.push(observation);
  }

  cancel(token: Buffer): void {
    this.#observations = this.#observations.filter((o) => !o.token.equals(token));
  }

  /** A new registration: the server observes afresh. */
  clear(): void {
    this.#observations = [];
  }

  /** A reboot: observations and a held-back notification are gone. */
  reset(): void {
    this.#observations = [];
    this.#heldBack = undefined;
  }

  nextSeq(): number {
    this.#observeSeq = (this.#observeSeq + 1) & 0xffffff;
    return this.#observeSeq;
  }

  /** Notifies every observation covering one of `changedPaths`. */
  changed(changedPaths: readonly string[]): void {
    if (this.#observations.length === 0) return;
    const changed = changedPaths.map((p) => tryParsePath(p)!);
    const server = this.#ctx.parts.server;
    for (const observation of this.#observations) {
      if (!changed.some((c) => isPrefixOf(observation.path, c))) continue;
      const answer = server.encodeAt(observation.path, formatPath(observation.path), observation.format);
      if (answer.code !== Code.CONTENT) continue;
      this.#dispatch({
        observation,
        seq: this.nextSeq(),
        code: answer.code,
        payload: answer.payload ?? Buffer.alloc(0),
      });
    }
  }

  /** Waits until notifications already sent were acknowledged (or gave up); held-back ones go out first. */
  async flush(): Promise<void> {
    const held = this.#heldBack;
    if (held !== undefined) {
      this.#heldBack = undefined;
      this.#send(held);
    }
    await Promise.all([...this.#inFlight]);
  }

  #dispatch(n: Notification): void {
    const faults = this.#ctx.faults;
    if (faults.has('reorder-notifications')) {
      const held = this.#heldBack;
      if (held === undefined) {
        this.#heldBack = n;
        return;
      }
      this.#heldBack = undefined;
      this.#send(n);
      this.#send(held);
      return;
    }
    this.#send(n);
    if (faults.has('duplicate-notifications')) this.#send(n);
  }

  #send(n: Notification): void {
    const ctx = this.#ctx;
    const socket = ctx.socket;
    if (socket === undefined) return;
    if (ctx.queueMode && socket.deaf) void ctx.parts.registration.sendUpdate();
    const options: CoapOptionValue[] = [
      { number: CoapOption.OBSERVE, value: uintOption(n.seq) },
      { number: CoapOption.CONTENT_FORMAT, value: uintOption(n.observation.format) },
    ];
    const type = (ctx.options.notifications ?? 'CON') === 'CON' ? MessageType.CON : MessageType.NON;
    const sent = socket.send(n.observation.peer, type, {
      code: n.code,
      token: n.observation.token,
      options,
      payload: n.payload,
    });
    this.#inFlight.add(sent);
    void sent.then((outcome) => {
      this.#inFlight.delete(sent);
      // RST (or no answer at all) to a notification cancels the observation (RFC 7641 §3.6, §4.5).
      if (outcome.kind === 'reset' || (type === MessageType.CON && outcome.kind === 'timeout')) {
        this.#observations = this.#observations.filter((o) => o !== n.observation);
      }
    });
  }
}
