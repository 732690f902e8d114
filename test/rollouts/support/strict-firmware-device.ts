import type { ParsedPacket } from 'coap-packet';
import { decode, encode, isSupportedFormat } from '../../../controller/lwm2m/codec/index.js';
import { ContentFormat, type ContentFormatId } from '../../../controller/lwm2m/content-format.js';
import { defaultModel } from '../../../controller/lwm2m/model/index.js';
import {
  type DevicePsk,
  option,
  pathOf,
  RawDevice,
  type Received,
  uint,
  uintBuf,
} from '../../lwm2m/support/raw-device.js';

/** How the device answers a non-empty Package URI write. */
export type UriPolicy =
  /** Like the Anjay client: a new URI only while Idle (State 0), else 4.00 Bad Request. */
  | 'idle-only'
  /** Every non-empty URI refused with this code (e.g. 4.05: the resource is not writable). */
  | { readonly refuseWith: string };

export interface StrictDeviceOptions {
  readonly serverPort: number;
  readonly endpoint: string;
  readonly model: string;
  readonly version: string;
  /** 5/0/3 and 5/0/5 at start, e.g. 2 and 8: left in Downloaded after a failed install. */
  readonly state: number;
  readonly result: number;
  readonly uriPolicy: UriPolicy;
  /**
   * What it reports for 5/0/3 until the first URI write: e.g. 0 while it really is in State 2, as
   * a device whose state changed after its last report looks to the controller.
   */
  readonly reportedStateBeforeFirstWrite?: number;
  /** Over DTLS with this key (node-dtls-client) instead of plain CoAP. */
  readonly psk?: DevicePsk;
}

type AnswerArgs = Parameters<RawDevice['answer']> extends [Received, ...infer Rest] ? Rest : never;

const MAX_REMEMBERED_ANSWERS = 64;

interface Observed {
  readonly token: Buffer;
  readonly path: string;
}

/**
 * An LwM2M client written for the test on a bare UDP socket (not the simulator): objects 3 and 5
 * read per resource, 5/0/3 and 5/0/5 observable, and object 5 version 1.0 (no Cancel 5/0/10, so
 * an empty Package URI is the only reset). It downloads nothing: an accepted URI goes to State 1,
 * then State 2; Execute installs the version named in the URI's file name and registers again.
 */
export class StrictFirmwareDevice {
  /** Every Package URI write, with the code it was answered. */
  readonly writes: { readonly uri: string; readonly code: string }[] = [];
  readonly #device: RawDevice;
  readonly #o: StrictDeviceOptions;
  #state: number;
  #result: number;
  #version: string;
  #pending: string | undefined;
  #written = false;
  #observed: Observed[] = [];
  #seq = 10;
  #closed = false;
  /** Answers to recent CON requests by message id: a retransmission gets the same answer again. */
  readonly #answers = new Map<number, () => void>();

  private constructor(device: RawDevice, options: StrictDeviceOptions) {
    this.#device = device;
    this.#o = options;
    this.#state = options.state;
    this.#result = options.result;
    this.#version = options.version;
  }

  static async start(options: StrictDeviceOptions): Promise<StrictFirmwareDevice> {
    const raw = options.psk
      ? await RawDevice.openDtls(options.serverPort, options.psk)
      : await RawDevice.open(options.serverPort);
    const device = new StrictFirmwareDevice(raw, options);
    void device.#serve();
    try {
      await device.#register();
    } catch (err) {
      await device.close();
      throw err;
    }
    return device;
  }

  get state(): number {
    return this.#state;
  }

  get version(): string {
    return this.#version;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#device.close();
  }

  async #register(): Promise<void> {
    this.#observed = [];
    const answer = await this.#device.register(
      [`ep=${this.#o.endpoint}`, 'lt=86400', 'lwm2m=1.1', 'b=U'],
      '</1/0>,</3/0>,</5/0>',
    );
    if (answer.code !== '2.01') throw new Error(`register answered ${answer.code}`);
  }

  async #serve(): Promise<void> {
    while (!this.#closed) {
      const request = await this.#device.nextRequest();
      if (this.#closed) return;
      // RFC 7252 4.5: a duplicate CON (the server retransmitted before our ACK arrived) is
      // answered again, never acted on twice.
      const again = request.packet.confirmable ? this.#answers.get(request.packet.messageId) : undefined;
      if (again !== undefined) again();
      else this.#handle(request);
    }
  }

  #answer(request: Received, ...answer: AnswerArgs): void {
    const send = () => this.#device.answer(request, ...answer);
    if (request.packet.confirmable) {
      this.#answers.set(request.packet.messageId, send);
      if (this.#answers.size > MAX_REMEMBERED_ANSWERS) {
        this.#answers.delete(this.#answers.keys().next().value as number);
      }
    }
    send();
  }

  #values(): Record<string, string | number> {
    const reportedState =
      !this.#written && this.#o.reportedStateBeforeFirstWrite !== undefined
        ? this.#o.reportedStateBeforeFirstWrite
        : this.#state;
    return {
      '/3/0/0': 'otactl-test',
      '/3/0/1': this.#o.model,
      '/3/0/2': this.#o.endpoint,
      '/3/0/3': this.#version,
      '/5/0/3': reportedState,
      '/5/0/5': this.#result,
    };
  }

  #handle(request: Received): void {
    const { packet } = request;
    const path = pathOf(packet);
    if (packet.code === '0.01') {
      const value = this.#values()[path];
      if (value === undefined) {
        this.#answer(request, path === '/3/0' || path === '/5/0' ? '4.05' : '4.04');
        return;
      }
      const accept = uint(option(packet, 'Accept')[0]) ?? ContentFormat.TEXT;
      const format: ContentFormatId =
        isSupportedFormat(accept) && accept !== ContentFormat.OPAQUE ? accept : ContentFormat.TEXT;
      const extra =
        uint(option(packet, 'Observe')[0]) === 0
          ? [{ name: 'Observe' as const, value: uintBuf(this.#nextSeq()) }]
          : [];
      if (extra.length > 0) this.#observed.push({ token: packet.token, path });
      this.#answer(request, '2.05', this.#encode(format, path, value), format, extra);
      return;
    }
    if ((packet.code === '0.02' || packet.code === '0.03') && path === '/5/0/1') {
      this.#writeUri(request, this.#decodeUri(packet));
      return;
    }
    if (packet.code === '0.02' && path === '/5/0/2') {
      if (this.#state !== 2 || this.#pending === undefined) {
        this.#answer(request, '4.05');
        return;
      }
      this.#answer(request, '2.04');
      void this.#install(this.#pending);
      return;
    }
    this.#answer(request, '4.04');
  }

  #writeUri(request: Received, uri: string | undefined): void {
    if (uri === undefined) {
      this.#answer(request, '4.00');
      return;
    }
    const policy = this.#o.uriPolicy;
    const code =
      uri === ''
        ? '2.04'
        : policy === 'idle-only'
          ? this.#state === 0
            ? '2.04'
            : '4.00'
          : policy.refuseWith;
    this.writes.push({ uri, code });
    this.#written = true;
    this.#answer(request, code);
    if (code !== '2.04') return;
    if (uri === '') {
      this.#pending = undefined;
      this.#set(0, 0);
      return;
    }
    this.#pending = uri;
    this.#set(1, 0);
    setImmediate(() => this.#set(2, 0));
  }

  async #install(uri: string): Promise<void> {
    this.#set(3, 0);
    const version = /-(\d+\.\d+\.\d+)\.bin/.exec(uri)?.[1] ?? this.#version;
    this.#version = version;
    this.#pending = undefined;
    this.#state = 0;
    this.#result = 1;
    await this.#register();
  }

  #set(state: number, result: number): void {
    const changed = [
      ...(state !== this.#state ? ['/5/0/3'] : []),
      ...(result !== this.#result ? ['/5/0/5'] : []),
    ];
    this.#state = state;
    this.#result = result;
    for (const path of changed) this.#notify(path);
  }

  #notify(path: string): void {
    const value = this.#values()[path];
    if (value === undefined) return;
    for (const o of this.#observed.filter((x) => x.path === path)) {
      this.#device.send({
        confirmable: false,
        code: '2.05',
        token: o.token,
        options: [
          { name: 'Observe', value: uintBuf(this.#nextSeq()) },
          { name: 'Content-Format', value: uintBuf(ContentFormat.TEXT) },
        ],
        payload: this.#encode(ContentFormat.TEXT, path, value),
      });
    }
  }

  #decodeUri(packet: ParsedPacket): string | undefined {
    const format = uint(option(packet, 'Content-Format')[0]) ?? ContentFormat.TEXT;
    if (!isSupportedFormat(format)) return undefined;
    const decoded = decode(format, '/5/0/1', packet.payload, defaultModel);
    if (!decoded.ok) return undefined;
    const value = decoded.records.find((r) => r.path === '/5/0/1')?.value;
    if (value === undefined) return undefined;
    return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  }

  #encode(format: ContentFormatId, path: string, value: string | number): Buffer {
    return encode(format, path, [{ path, value }], defaultModel);
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) & 0xffffff;
    return this.#seq;
  }
}
