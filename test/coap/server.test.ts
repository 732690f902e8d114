import { generate, type Packet, type ParsedPacket, parse } from 'coap-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { Peer } from '../../controller/coap/address.js';
import { encodeBlock } from '../../controller/coap/block-option.js';
import type { DatagramSender } from '../../controller/coap/datagram-sender.js';
import type { InboundRequest } from '../../controller/coap/inbound-exchanges.js';
import { CoapServer } from '../../controller/coap/server.js';
import { FLEET_TIMING } from '../../controller/coap/timing.js';

const peer: Peer = { address: '192.0.2.7', port: 5683 };

/** Records what the server sends; `next()` resolves with the next datagram (no polling, no sleeps). */
class RecordingSender implements DatagramSender {
  readonly sent: { packet: ParsedPacket; peer: Peer }[] = [];
  #waiters: ((p: ParsedPacket) => void)[] = [];
  #read = 0;

  send(datagram: Buffer, to: Peer): void {
    const packet = parse(datagram);
    this.sent.push({ packet, peer: to });
    this.#flush();
  }

  next(): Promise<ParsedPacket> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#waiters.length > 0 && this.#read < this.sent.length) {
      this.#waiters.shift()!(this.sent[this.#read++]!.packet);
    }
  }
}

const servers: CoapServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

function setUp(onRequest: (req: InboundRequest) => void, piggybackMs = FLEET_TIMING.piggybackMs) {
  const sender = new RecordingSender();
  const responses: ParsedPacket[] = [];
  const errors: string[] = [];
  let mid = 100;
  const server = new CoapServer({
    sender,
    onResponse: (packet) => responses.push(packet),
    onRequest,
    maxCachedResponses: 100,
    maxBodyBytes: 4096,
    onError: (message) => errors.push(message),
    timing: { ...FLEET_TIMING, piggybackMs },
    nextMessageId: () => mid++,
  });
  servers.push(server);
  const receive = (p: Packet) => server.receive(generate(p), peer);
  return { server, sender, responses, errors, receive };
}

const fwPath = [
  { name: 'Uri-Path', value: Buffer.from('fw') },
  { name: 'Uri-Path', value: Buffer.from('a.bin') },
];

describe('CoapServer', () => {
  it('answers pings with RST and malformed CONs with RST, and hands responses on', async () => {
    const t = setUp(() => expect.unreachable('no request here'));
    t.receive({ code: '0.00', confirmable: true, messageId: 7 });
    expect(await t.sender.next()).toMatchObject({ code: '0.00', reset: true, messageId: 7 });
    t.server.receive(Buffer.from([0x40, 0x01, 0x12, 0x34, 0xf1]), peer); // option delta 15: a format error
    expect(await t.sender.next()).toMatchObject({ code: '0.00', reset: true, messageId: 0x1234 });
    t.receive({ code: '2.05', ack: true, messageId: 9, token: Buffer.from([1]) });
    t.receive({ code: '0.00', ack: true, messageId: 10 });
    expect(t.responses.map((p) => [p.code, p.messageId])).toEqual([
      ['2.05', 9],
      ['0.00', 10],
    ]);
  });

  it('refuses methods it does not serve (4.05) and unknown critical options (4.02) to the sender', async () => {
    const t = setUp(() => expect.unreachable('refused before serving'));
    t.receive({ code: '0.05', confirmable: true, messageId: 1, token: Buffer.from([1]), options: fwPath });
    expect(await t.sender.next()).toMatchObject({ code: '4.05', ack: true, messageId: 1 });
    t.receive({
      code: '0.01',
      confirmable: true,
      messageId: 2,
      token: Buffer.from([2]),
      options: [...fwPath, { name: '9', value: Buffer.alloc(0) }],
    });
    expect(await t.sender.next()).toMatchObject({ code: '4.02', ack: true, messageId: 2 });
    expect(t.sender.sent.every((s) => s.peer === peer)).toBe(true);
  });

  it('answers 5.00 when a handler throws, and answers a duplicate from the cache without serving it again', async () => {
    let served = 0;
    const t = setUp(() => {
      served++;
      throw new Error('handler bug');
    });
    const request: Packet = {
      code: '0.01',
      confirmable: true,
      messageId: 3,
      token: Buffer.from([3]),
      options: fwPath,
    };
    t.receive(request);
    const first = await t.sender.next();
    t.receive(request);
    const again = await t.sender.next();
    expect(first).toMatchObject({ code: '5.00', ack: true, messageId: 3 });
    expect(generate(again).equals(generate(first))).toBe(true);
    expect(served).toBe(1);
    expect(t.errors).toEqual(['request handler threw']);
  });

  it('sends an empty ACK past the piggyback window and the late answer as a separate CON until acknowledged', async () => {
    let pending: InboundRequest | undefined;
    const t = setUp((req) => {
      pending = req;
    }, 20);
    t.receive({ code: '0.01', confirmable: true, messageId: 4, token: Buffer.from([4]), options: fwPath });
    expect(await t.sender.next()).toMatchObject({ code: '0.00', ack: true, messageId: 4 });
    pending!.answer({ code: '2.05', payload: Buffer.from('image') });
    const separate = await t.sender.next();
    expect(separate).toMatchObject({ code: '2.05', confirmable: true, messageId: 100 });
    expect(separate.token).toEqual(Buffer.from([4]));
    expect(t.server.pending.separateResponses).toBe(1);
    t.receive({ code: '0.00', ack: true, messageId: 100 });
    expect(t.server.pending.separateResponses).toBe(0);
    // Settled here: not handed on as a response to the downlink side.
    expect(t.responses).toEqual([]);
  });

  it('reassembles a Block1 body, answers 2.31 per block and serves the whole body once with the final Block1', async () => {
    const bodies: Buffer[] = [];
    const t = setUp((req) => {
      bodies.push(req.packet.payload);
      req.answer({ code: '2.04' });
    });
    const body = Buffer.alloc(40, 0x61);
    const block = (num: number, more: boolean, messageId: number): Packet => ({
      code: '0.03',
      confirmable: true,
      messageId,
      token: Buffer.from([messageId]),
      options: [...fwPath, { name: 'Block1', value: encodeBlock({ num, more, szx: 0 }) }],
      payload: body.subarray(num * 16, num * 16 + 16),
    });
    t.receive(block(0, true, 10));
    expect(await t.sender.next()).toMatchObject({ code: '2.31', messageId: 10 });
    t.receive(block(1, true, 11));
    expect(await t.sender.next()).toMatchObject({ code: '2.31', messageId: 11 });
    t.receive(block(2, false, 12));
    const last = await t.sender.next();
    expect(last).toMatchObject({ code: '2.04', messageId: 12 });
    expect(last.options.find((o) => o.name === 'Block1')?.value).toEqual(
      encodeBlock({ num: 2, more: false, szx: 0 }),
    );
    expect(bodies).toEqual([body]);
  });
});
