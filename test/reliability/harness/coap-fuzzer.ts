import { createSocket, type Socket } from 'node:dgram';
import { generate, type NamedOption } from 'coap-packet';
import type { Random } from './seeded-random.js';

const text = (value: string) => Buffer.from(value);
const uint = (value: number) => {
  if (value === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from(bytes);
};

/**
 * Real LwM2M traffic to mutate: Register (with a link body, Block1 too), registration Update and
 * De-register, a notification, an Execute answer, ACK, RST and a ping. Endpoint names start with
 * `fz-`, so a mutated Register never joins the legitimate devices' group.
 */
export function seedPackets(random: Random): Buffer[] {
  const token = () => random.bytes(random.int(0, 8));
  const messageId = () => random.int(0, 0xffff);
  const path = (...parts: string[]): NamedOption[] =>
    parts.map((p) => ({ name: 'Uri-Path', value: text(p) }));
  const query = (...parts: string[]): NamedOption[] =>
    parts.map((q) => ({ name: 'Uri-Query', value: text(q) }));
  const body = text('</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</5>;ver=1.2,</5/0>');
  return [
    generate({
      code: '0.02',
      messageId: messageId(),
      token: token(),
      options: [
        ...path('rd'),
        { name: 'Content-Format', value: uint(40) },
        ...query('ep=fz-register', 'lt=300', 'lwm2m=1.1', 'b=U'),
      ],
      payload: body,
    }),
    generate({
      code: '0.02',
      messageId: messageId(),
      token: token(),
      options: [
        ...path('rd'),
        { name: 'Content-Format', value: uint(40) },
        ...query('ep=fz-block', 'lt=60', 'lwm2m=1.2'),
        { name: 'Block1', value: Buffer.from([0x0a]) },
      ],
      payload: body,
    }),
    generate({
      code: '0.02',
      messageId: messageId(),
      token: token(),
      options: [...path('rd', 'fz0001'), ...query('lt=120')],
    }),
    generate({ code: '0.04', messageId: messageId(), token: token(), options: path('rd', 'fz0002') }),
    generate({
      code: '2.05',
      messageId: messageId(),
      token: token(),
      options: [
        { name: 'Observe', value: uint(random.int(0, 0xffffff)) },
        { name: 'Content-Format', value: uint(110) },
      ],
      payload: text('[{"bn":"/5/0/","n":"3","v":2},{"n":"5","v":0}]'),
    }),
    generate({
      code: '2.05',
      confirmable: false,
      messageId: messageId(),
      token: token(),
      options: [
        { name: 'Observe', value: uint(random.int(0, 0xffffff)) },
        { name: 'Content-Format', value: uint(11542) },
      ],
      payload: Buffer.from([0xc1, 0x03, 0x02, 0xc1, 0x05, 0x00]),
    }),
    generate({ code: '2.04', ack: true, confirmable: false, messageId: messageId(), token: token() }),
    generate({ code: '0.00', ack: true, confirmable: false, messageId: messageId() }),
    generate({ code: '0.00', reset: true, confirmable: false, messageId: messageId() }),
    generate({ code: '0.00', confirmable: true, messageId: messageId() }),
    generate({ code: '0.01', messageId: messageId(), token: token(), options: path('fw', 'sim1-2.0.0.bin') }),
  ];
}

/** One mutation (or a few stacked) of a real packet, or plain random bytes. */
export function mutate(random: Random, seeds: readonly Buffer[]): Buffer {
  if (random.next() < 0.1) return random.bytes(random.int(0, random.next() < 0.9 ? 64 : 1500));
  let packet = Buffer.from(random.pick(seeds));
  const rounds = random.int(1, 4);
  for (let r = 0; r < rounds; r++) {
    const at = packet.length === 0 ? 0 : random.int(0, packet.length - 1);
    switch (random.int(0, 9)) {
      case 0: // flip one bit
        if (packet.length > 0) packet[at] = packet[at]! ^ (1 << random.int(0, 7));
        break;
      case 1: // replace one byte
        if (packet.length > 0) packet[at] = random.int(0, 255);
        break;
      case 2: // truncate
        packet = packet.subarray(0, random.int(0, packet.length));
        break;
      case 3: // insert random bytes
        packet = Buffer.concat([
          packet.subarray(0, at),
          random.bytes(random.int(1, 16)),
          packet.subarray(at),
        ]);
        break;
      case 4: // delete a range
        packet = Buffer.concat([packet.subarray(0, at), packet.subarray(at + random.int(1, 8))]);
        break;
      case 5: // hostile header: token length 9..15, odd version or type
        if (packet.length > 0) packet[0] = (packet[0]! & 0xf0) | random.int(9, 15);
        break;
      case 6: // extended option delta/length nibbles (13, 14, 15) right after the token
        if (packet.length > 4) {
          const optionAt = Math.min(packet.length - 1, 4 + (packet[0]! & 0x0f));
          packet[optionAt] = (random.int(13, 15) << 4) | random.int(13, 15);
        }
        break;
      case 7: // a huge payload
        packet = Buffer.concat([packet, Buffer.from([0xff]), random.bytes(random.int(100, 1400))]);
        break;
      case 8: // random code
        if (packet.length > 1) packet[1] = random.int(0, 255);
        break;
      case 9: // splice two seeds
        packet = Buffer.concat([packet.subarray(0, at), random.pick(seeds).subarray(random.int(0, 8))]);
        break;
    }
  }
  return packet.subarray(0, 1400);
}

export interface FuzzReport {
  readonly sent: number;
  /** Datagrams the target sent back (RSTs, error answers, ...). */
  readonly answers: number;
  readonly elapsedMs: number;
}

/**
 * Sends `count` fuzzed datagrams from a few loopback sockets to `port`, at most `perSecond`, and
 * stops early when `signal` aborts. Loopback only: the target must be 127.0.0.1 or ::1.
 */
export async function runCoapFuzzer(options: {
  readonly host: '127.0.0.1' | '::1';
  readonly port: number;
  readonly count: number;
  readonly perSecond: number;
  readonly random: Random;
  readonly sockets?: number;
  readonly signal?: AbortSignal;
}): Promise<FuzzReport> {
  const { random } = options;
  const seeds = seedPackets(random);
  let answers = 0;
  const sockets: Socket[] = [];
  for (let i = 0; i < (options.sockets ?? 4); i++) {
    const socket = createSocket(options.host === '::1' ? 'udp6' : 'udp4');
    socket.on('message', () => answers++);
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.bind(0, options.host, resolve));
    sockets.push(socket);
  }
  const began = Date.now();
  const batch = Math.max(1, Math.round(options.perSecond / 100));
  let sent = 0;
  try {
    while (sent < options.count && !options.signal?.aborted) {
      const sends: Promise<void>[] = [];
      for (let i = 0; i < batch && sent < options.count; i++, sent++) {
        const socket = sockets[sent % sockets.length]!;
        const datagram = mutate(random, seeds);
        sends.push(
          new Promise((resolve) => socket.send(datagram, options.port, options.host, () => resolve())),
        );
      }
      await Promise.all(sends);
      // Pace to perSecond: the budget is time, not an event to wait for.
      const ahead = (sent / options.perSecond) * 1000 - (Date.now() - began);
      if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
    }
  } finally {
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
  return { sent, answers, elapsedMs: Date.now() - began };
}
