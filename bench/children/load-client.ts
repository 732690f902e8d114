/**
 * Lightweight LwM2M load generator (a bench child process): `clients` UDP sockets register distinct
 * endpoints, each socket one Register at a time, and every socket answers the server's reads and
 * observes of the few resources the controller asks for. Far cheaper per device than the full
 * simulator, so the server under test, not the client, sets the rate.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { generate, type ParsedPacket, parse } from 'coap-packet';
import { serveRpc } from '../rpc.js';

const SENML_JSON = 110;
const TEXT = 0;
const LINKS = '</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</5/0>';

/** SenML JSON (and text for single resources) answers for what device sync and the bench read. */
const RESOURCES: Record<string, { senml: string; text?: string }> = {
  '/3/0': {
    senml: JSON.stringify([
      { bn: '/3/0/', n: '0', vs: 'Bench' },
      { n: '1', vs: 'BENCH' },
      { n: '2', vs: 'SN-1' },
      { n: '3', vs: '1.0.0' },
      { n: '17', vs: 'bench' },
      { n: '18', vs: 'hw1' },
    ]),
  },
  '/3/0/3': { senml: JSON.stringify([{ n: '/3/0/3', vs: '1.0.0' }]), text: '1.0.0' },
  '/5/0/3': { senml: JSON.stringify([{ n: '/5/0/3', v: 0 }]), text: '0' },
  '/5/0/5': { senml: JSON.stringify([{ n: '/5/0/5', v: 0 }]), text: '0' },
  '/5/0/8': { senml: JSON.stringify([{ bn: '/5/0/8/', n: '0', v: 2 }]) },
  '/5/0/9': { senml: JSON.stringify([{ n: '/5/0/9', v: 0 }]), text: '0' },
};

interface Pending {
  readonly messageId: number;
  readonly token: Buffer;
  /** An empty ACK came: the answer follows as a separate response, so stop retransmitting. */
  acknowledged: () => void;
  readonly resolve: (packet: ParsedPacket) => void;
}

interface Client {
  readonly socket: Socket;
  nextMessageId: number;
  /** Requests in flight by token (hex): piggybacked and separate responses both carry it. */
  readonly pending: Map<string, Pending>;
}

const clients: Client[] = [];
const stats = { requestsAnswered: 0, requestsIgnored: 0, registerRetries: 0, separateResponses: 0 };
/** Set by `register`: the sockets register and never answer the server (a flood of fake devices). */
let silent = false;

function optionValue(packet: ParsedPacket, name: string): Buffer | undefined {
  return packet.options.find((o) => o.name === name)?.value;
}

function uint(value: Buffer | undefined): number | undefined {
  if (value === undefined) return undefined;
  let n = 0;
  for (const byte of value) n = n * 256 + byte;
  return n;
}

function answer(client: Client, packet: ParsedPacket, rinfo: RemoteInfo): void {
  if (packet.code === '0.00') {
    // CoAP ping: answer RST.
    if (packet.confirmable)
      client.socket.send(
        generate({ messageId: packet.messageId, reset: true, code: '0.00' }),
        rinfo.port,
        rinfo.address,
      );
    return;
  }
  const path = `/${packet.options
    .filter((o) => o.name === 'Uri-Path')
    .map((o) => o.value.toString())
    .join('/')}`;
  const resource = RESOURCES[path];
  const accept = uint(optionValue(packet, 'Accept'));
  const observe = optionValue(packet, 'Observe');
  const reply = {
    messageId: packet.messageId,
    token: packet.token,
    ack: packet.confirmable,
    confirmable: false,
    code: '4.04',
    options: [] as { name: string; value: Buffer }[],
    payload: Buffer.alloc(0),
  };
  if (packet.code !== '0.01') reply.code = '4.05';
  else if (resource !== undefined) {
    if (accept === undefined || accept === SENML_JSON || (accept === TEXT && resource.text === undefined)) {
      const asText = accept === undefined && resource.text !== undefined;
      reply.code = '2.05';
      if (observe !== undefined && uint(observe) === 0)
        reply.options.push({ name: 'Observe', value: Buffer.from([1]) });
      reply.options.push({ name: 'Content-Format', value: Buffer.from([asText ? TEXT : SENML_JSON]) });
      reply.payload = Buffer.from(asText ? resource.text! : resource.senml);
    } else if (accept === TEXT && resource.text !== undefined) {
      reply.code = '2.05';
      if (observe !== undefined && uint(observe) === 0)
        reply.options.push({ name: 'Observe', value: Buffer.from([1]) });
      reply.options.push({ name: 'Content-Format', value: Buffer.alloc(0) });
      reply.payload = Buffer.from(resource.text);
    } else reply.code = '4.06';
  }
  stats.requestsAnswered++;
  client.socket.send(generate(reply), rinfo.port, rinfo.address);
}

async function openClient(): Promise<Client> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const client: Client = { socket, nextMessageId: Math.floor(Math.random() * 65536), pending: new Map() };
  socket.on('message', (data, rinfo) => {
    let packet: ParsedPacket;
    try {
      packet = parse(data);
    } catch {
      return;
    }
    if (packet.code === '0.00' && (packet.ack || packet.reset)) {
      // Empty ACK (the server answers later) or RST: matched by message ID.
      for (const waiter of client.pending.values()) {
        if (waiter.messageId !== packet.messageId) continue;
        if (packet.reset) {
          client.pending.delete(waiter.token.toString('hex'));
          waiter.resolve(packet);
        } else waiter.acknowledged();
        break;
      }
      return;
    }
    if (!packet.code.startsWith('0.')) {
      // A response: piggybacked on the ACK, or separate (CON or NON) after an empty ACK.
      const key = packet.token.toString('hex');
      const waiter = client.pending.get(key);
      if (packet.confirmable)
        client.socket.send(
          generate({ messageId: packet.messageId, ack: true, code: '0.00' }),
          rinfo.port,
          rinfo.address,
        );
      if (waiter === undefined || (packet.ack && waiter.messageId !== packet.messageId)) return;
      if (!packet.ack) stats.separateResponses++;
      client.pending.delete(key);
      waiter.resolve(packet);
      return;
    }
    if (packet.ack || packet.reset) return;
    if (silent) stats.requestsIgnored++;
    else answer(client, packet, rinfo);
  });
  socket.on('error', () => {});
  return client;
}

/** One CON request; retransmitted every `retryMs` until answered. */
function request(
  client: Client,
  server: { host: string; port: number },
  build: (messageId: number, token: Buffer) => Buffer,
  retryMs: number,
): Promise<ParsedPacket> {
  const messageId = client.nextMessageId;
  client.nextMessageId = (client.nextMessageId + 1) & 0xffff;
  const token = randomBytes(4);
  const bytes = build(messageId, token);
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      stats.registerRetries++;
      client.socket.send(bytes, server.port, server.host);
    }, retryMs);
    client.pending.set(token.toString('hex'), {
      messageId,
      token,
      acknowledged: () => clearInterval(timer),
      resolve: (packet) => {
        clearInterval(timer);
        resolve(packet);
      },
    });
    client.socket.send(bytes, server.port, server.host);
  });
}

/** Encoded once per endpoint; message ID (bytes 2-3) and the 4-byte token (4-7) are patched in. */
function registerPacket(endpoint: string, lifetime: number): (messageId: number, token: Buffer) => Buffer {
  const template = generate({
    messageId: 0,
    token: Buffer.alloc(4),
    code: '0.02',
    confirmable: true,
    options: [
      { name: 'Uri-Path', value: Buffer.from('rd') },
      { name: 'Content-Format', value: Buffer.from([40]) },
      { name: 'Uri-Query', value: Buffer.from(`ep=${endpoint}`) },
      { name: 'Uri-Query', value: Buffer.from(`lt=${lifetime}`) },
      { name: 'Uri-Query', value: Buffer.from('lwm2m=1.1') },
      { name: 'Uri-Query', value: Buffer.from('b=U') },
    ],
    payload: Buffer.from(LINKS),
  });
  return (messageId, token) => {
    const bytes = Buffer.from(template);
    bytes.writeUInt16BE(messageId, 2);
    token.copy(bytes, 4);
    return bytes;
  };
}

export interface RegisterArgs {
  readonly host: string;
  readonly port: number;
  readonly prefix: string;
  readonly count: number;
  readonly clients: number;
  readonly lifetime: number;
  /** The sockets never answer the server's requests (this process's every socket, from now on). */
  readonly silent?: boolean;
}

export interface RegisterResult {
  readonly registered: number;
  readonly seconds: number;
  readonly retries: number;
  /** Answers that came as separate responses (the server took longer than its piggyback delay). */
  readonly separateResponses: number;
  /** Register round trip, send to answer, in ms. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** This process's CPU time during the run (user + system), in seconds. */
  readonly cpuSeconds: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const handlers = {
  /** Registers `count` endpoints `<prefix><i>` from `clients` sockets, one Register in flight per socket. */
  async register(args: RegisterArgs): Promise<RegisterResult> {
    silent = args.silent === true;
    while (clients.length < args.clients) clients.push(await openClient());
    const server = { host: args.host, port: args.port };
    const retriesBefore = stats.registerRetries;
    const separateBefore = stats.separateResponses;
    const latencies: number[] = [];
    let next = 0;
    let registered = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      clients.slice(0, args.clients).map(async (client) => {
        while (next < args.count) {
          const endpoint = `${args.prefix}${next++}`;
          const sent = performance.now();
          const reply = await request(client, server, registerPacket(endpoint, args.lifetime), 3000);
          latencies.push(performance.now() - sent);
          if (reply.code === '2.01') registered++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    latencies.sort((a, b) => a - b);
    return {
      registered,
      seconds,
      retries: stats.registerRetries - retriesBefore,
      separateResponses: stats.separateResponses - separateBefore,
      latencyMs: {
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies.at(-1) ?? 0,
      },
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  },
  stats: () => ({ ...stats }),
  cpu: () => process.cpuUsage(),
  async close(): Promise<void> {
    await Promise.all(clients.splice(0).map((c) => new Promise<void>((r) => c.socket.close(() => r()))));
  },
};

export type LoadClientHandlers = typeof handlers;

serveRpc(handlers);
