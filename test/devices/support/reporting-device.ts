import type { ParsedPacket } from 'coap-packet';
import {
  locationOf,
  option,
  pathOf,
  RawDevice,
  type Received,
  uintBuf,
} from '../../lwm2m/support/raw-device.js';

/** How the device answers a read or observe of one path. */
export interface Answer {
  readonly code?: string;
  readonly format?: number;
  readonly payload?: Buffer;
}

/**
 * A device of bare UDP whose every answer is chosen by the test: it registers with the bytes it is
 * given, then answers each read or observe of the controller from `answers` (4.04 for other paths).
 */
export class ReportingDevice {
  readonly answers = new Map<string, Answer>();
  #closed = false;
  #observeSeq = 2;

  private constructor(readonly raw: RawDevice) {}

  static async open(serverPort: number, answers: Record<string, Answer> = {}): Promise<ReportingDevice> {
    const d = new ReportingDevice(await RawDevice.open(serverPort));
    for (const [path, answer] of Object.entries(answers)) d.answers.set(path, answer);
    void d.#serve();
    return d;
  }

  /** Register with raw Uri-Query values (Buffers are sent as they are) and a raw link body. */
  register(
    query: readonly (string | Buffer)[],
    links: string | Buffer = '</1/0>,</3/0>,</5/0>',
  ): Promise<ParsedPacket> {
    return this.raw.request({
      code: 'POST',
      options: [
        { name: 'Uri-Path', value: Buffer.from('rd') },
        ...query.map((q) => ({ name: 'Uri-Query' as const, value: Buffer.from(q) })),
      ],
      payload: Buffer.from(links),
    });
  }

  /** Update at a raw Uri-Path id, with raw Uri-Query values and an optional body. */
  update(
    id: string | Buffer,
    query: readonly (string | Buffer)[] = [],
    links?: string | Buffer,
  ): Promise<ParsedPacket> {
    return this.raw.request({
      code: 'POST',
      options: [
        { name: 'Uri-Path', value: Buffer.from('rd') },
        { name: 'Uri-Path', value: Buffer.from(id) },
        ...query.map((q) => ({ name: 'Uri-Query' as const, value: Buffer.from(q) })),
      ],
      ...(links === undefined ? {} : { payload: Buffer.from(links) }),
    });
  }

  async #serve(): Promise<void> {
    while (!this.#closed) {
      const req: Received = await this.raw.nextRequest();
      if (this.#closed) return;
      const answer = this.answers.get(pathOf(req.packet)) ?? { code: '4.04' };
      const observe = option(req.packet, 'Observe').length > 0 && (answer.code ?? '2.05') === '2.05';
      this.raw.answer(
        req,
        answer.code ?? '2.05',
        answer.payload,
        answer.format,
        observe ? [{ name: 'Observe', value: uintBuf(this.#observeSeq++) }] : [],
      );
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    return this.raw.close();
  }
}

export { locationOf };
