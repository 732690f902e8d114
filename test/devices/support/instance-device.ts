import { EncodeError, encode, type ResourceValue } from '../../../controller/lwm2m/codec/index.js';
import { ContentFormat, type ContentFormatId } from '../../../controller/lwm2m/content-format.js';
import { defaultModel } from '../../../controller/lwm2m/model/index.js';
import {
  locationOf,
  option,
  pathOf,
  RawDevice,
  type Received,
  uint,
  uintBuf,
} from '../../lwm2m/support/raw-device.js';

export interface InstanceDeviceOptions {
  readonly endpoint: string;
  readonly version?: string;
  /** The answer to an Observe of /5/0 (say '4.05'); undefined: observed like any path. */
  readonly refuseInstanceObserve?: string;
  /** The answer to a Read (and Observe) of /5/0; undefined: read like any path. */
  readonly refuseInstanceRead?: string;
  /**
   * Answers an Observe of /5/0 with its content but no Observe option: RFC 7641's way of not
   * adding the requester to the observers (section 4.1).
   */
  readonly plainInstanceObserve?: boolean;
  /** Called with each request before it is answered; the answer waits for it. */
  readonly before?: (request: string) => Promise<void> | void;
}

interface Observer {
  readonly token: Buffer;
  readonly path: string;
  readonly format: ContentFormatId;
}

/**
 * A device of bare UDP that answers Read and Observe of any path under /3/0 and /5/0 from its
 * values, as the spec says (a whole instance, a multiple resource, a single one), and records
 * every request it gets ('GET /5/0', 'OBSERVE /5/0/3'): a test sees each exchange the server asked.
 */
export class InstanceDevice {
  readonly requests: string[] = [];
  readonly values: Record<string, ResourceValue>;
  readonly #observers: Observer[] = [];
  #seq = 2;
  #closed = false;

  private constructor(
    readonly raw: RawDevice,
    readonly o: InstanceDeviceOptions,
  ) {
    this.values = {
      '/3/0/0': 'otactl-test',
      '/3/0/1': 'T3',
      '/3/0/2': o.endpoint,
      '/3/0/3': o.version ?? '1.0.0',
      '/5/0/1': '',
      '/5/0/3': 0,
      '/5/0/5': 0,
      '/5/0/8/0': 0,
      '/5/0/8/1': 2,
      '/5/0/9': 0,
    };
  }

  static async open(serverPort: number, o: InstanceDeviceOptions): Promise<InstanceDevice> {
    const d = new InstanceDevice(await RawDevice.open(serverPort), o);
    void d.#serve();
    return d;
  }

  /** Registers; resolves with the registration id. */
  async register(): Promise<string> {
    const answer = await this.raw.register([`ep=${this.o.endpoint}`, 'lt=300', 'lwm2m=1.1']);
    if (answer.code !== '2.01') throw new Error(`register answered ${answer.code}`);
    return locationOf(answer)[1]!;
  }

  /** Sets values and notifies every observation covering one of them (NON, as some clients do). */
  set(values: Record<string, ResourceValue>): void {
    Object.assign(this.values, values);
    const changed = Object.keys(values);
    for (const o of this.#observers) {
      if (!changed.some((p) => p === o.path || p.startsWith(`${o.path}/`))) continue;
      const payload = this.#encode(o.path, o.format);
      if (typeof payload === 'string') continue;
      this.raw.send({
        confirmable: false,
        code: '2.05',
        token: o.token,
        options: [
          { name: 'Observe', value: uintBuf(this.#seq++) },
          { name: 'Content-Format', value: uintBuf(o.format) },
        ],
        payload,
      });
    }
  }

  /** The paths observed so far, sorted. */
  observed(): string[] {
    return this.#observers.map((o) => o.path).sort();
  }

  close(): Promise<void> {
    this.#closed = true;
    return this.raw.close();
  }

  async #serve(): Promise<void> {
    while (!this.#closed) {
      const req = await this.raw.nextRequest();
      if (this.#closed) return;
      const path = pathOf(req.packet);
      const observe = uint(option(req.packet, 'Observe')[0]) === 0;
      const what = `${req.packet.code === '0.01' ? (observe ? 'OBSERVE' : 'GET') : req.packet.code} ${path}`;
      this.requests.push(what);
      await this.o.before?.(what);
      this.#answer(req, path, observe);
    }
  }

  #answer(req: Received, path: string, observe: boolean): void {
    if (req.packet.code !== '0.01') {
      this.raw.answer(req, '4.05');
      return;
    }
    if (path === '/5/0') {
      const refusal = this.o.refuseInstanceRead ?? (observe ? this.o.refuseInstanceObserve : undefined);
      if (refusal !== undefined) {
        this.raw.answer(req, refusal);
        return;
      }
    }
    const format = (uint(option(req.packet, 'Accept')[0]) ?? ContentFormat.SENML_CBOR) as ContentFormatId;
    const payload = this.#encode(path, format);
    if (typeof payload === 'string') {
      this.raw.answer(req, payload);
      return;
    }
    const observed = observe && !(path === '/5/0' && this.o.plainInstanceObserve);
    const extra = observed ? [{ name: 'Observe' as const, value: uintBuf(this.#seq++) }] : [];
    if (observed) this.#observers.push({ token: req.packet.token, path, format });
    this.raw.answer(req, '2.05', payload, format, extra);
  }

  /** The values under `path` in `format`, or the error code to answer. */
  #encode(path: string, format: ContentFormatId): Buffer | string {
    const records = Object.entries(this.values)
      .filter(([p]) => p === path || p.startsWith(`${path}/`))
      .map(([p, value]) => ({ path: p, value }));
    if (records.length === 0) return '4.04';
    try {
      return encode(format, path, records, defaultModel);
    } catch (err) {
      if (err instanceof EncodeError) return '4.06';
      throw err;
    }
  }
}
