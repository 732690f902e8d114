import { createSocket, type Socket } from 'node:dgram';
import { Agent, type IncomingMessage, type OutgoingMessage, Server } from 'coap';
import {
  decode,
  encode,
  isSupportedFormat,
  type ResourceRecord,
} from '../../../controller/lwm2m/codec/index.js';
import { defaultModel } from '../../../controller/lwm2m/model/index.js';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly accept: number | undefined;
  readonly contentFormat: number | undefined;
  readonly payload: Buffer;
  readonly records: ResourceRecord[] | undefined;
}

type ObserveStream = OutgoingMessage & { write(b: Buffer): boolean };

function uint(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const names: Record<string, number> = {
      'text/plain': 0,
      'application/link-format': 40,
      'application/octet-stream': 42,
      'application/senml+json': 110,
      'application/senml+cbor': 112,
      'application/vnd.oma.lwm2m+tlv': 11542,
      'application/vnd.oma.lwm2m+json': 11543,
    };
    return names[v] ?? (Number.isNaN(Number(v)) ? undefined : Number(v));
  }
  if (Buffer.isBuffer(v)) return v.reduce((n, b) => n * 256 + b, 0);
  return undefined;
}

/**
 * A small LwM2M client on node-coap: one socket serving the device's resources and carrying its
 * Register/Update requests (so requests from the server arrive on the registration port).
 */
export class CoapDevice {
  readonly values = new Map<string, ResourceRecord['value']>();
  readonly seen: SeenRequest[] = [];
  /** Formats this device refuses to produce or accept (answers 4.06 / 4.15). */
  readonly refuse = new Set<number>();
  readonly executed: { path: string; args: string }[] = [];
  /** When set, an Execute is answered with this code and payload instead of 2.04. */
  executeRefusal: { readonly code: string; readonly payload: Buffer } | undefined;
  readonly observers = new Map<string, ObserveStream>();
  #observeSeq = 1;

  private constructor(
    readonly socket: Socket,
    readonly server: Server,
    readonly agent: Agent,
    readonly serverPort: number,
  ) {
    server.on('request', (req: IncomingMessage, res: OutgoingMessage) => this.#serve(req, res));
  }

  static async open(serverPort: number): Promise<CoapDevice> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const server = new Server();
    server.listen(socket);
    const agent = new Agent({ socket });
    return new CoapDevice(socket, server, agent, serverPort);
  }

  get port(): number {
    return this.socket.address().port;
  }

  register(query: string[], links: string): Promise<{ code: string; location: string[] }> {
    return new Promise((resolve, reject) => {
      const req = this.agent.request({
        hostname: '127.0.0.1',
        port: this.serverPort,
        method: 'POST',
        pathname: '/rd',
        query: query.join('&'),
        options: { 'Content-Format': 'application/link-format' },
      });
      req.on('response', (res: IncomingMessage) => {
        const location = (res._packet.options ?? [])
          .filter((o: { name: unknown }) => o.name === 'Location-Path')
          .map((o: { value: unknown }) => String(o.value));
        resolve({ code: res.code, location });
      });
      req.on('error', reject);
      req.end(Buffer.from(links));
    });
  }

  update(id: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = this.agent.request({
        hostname: '127.0.0.1',
        port: this.serverPort,
        method: 'POST',
        pathname: `/rd/${id}`,
      });
      req.on('response', (res: IncomingMessage) => resolve(res.code));
      req.on('error', reject);
      req.end();
    });
  }

  /** Sends a notification to the observer of `path` with the current value, in `format`. */
  notify(path: string, format: number): void {
    const stream = this.observers.get(path);
    if (stream === undefined) throw new Error(`nobody observes ${path}`);
    stream.setOption('Content-Format', format);
    stream.write(this.#encode(path, format));
  }

  #encode(path: string, format: number): Buffer {
    const records = [...this.values.entries()]
      .filter(([p]) => p === path || p.startsWith(`${path}/`))
      .map(([p, value]) => ({ path: p, value }));
    if (!isSupportedFormat(format)) throw new Error(`format ${format}`);
    return encode(format, path, records, defaultModel);
  }

  #serve(req: IncomingMessage, res: OutgoingMessage): void {
    const path = req.url.split('?')[0]!.replace(/\/$/, '') || '/';
    const accept = uint(req.headers.Accept);
    const contentFormat = uint(req.headers['Content-Format']);
    let records: ResourceRecord[] | undefined;
    if (contentFormat !== undefined && isSupportedFormat(contentFormat) && req.payload.length > 0) {
      const decoded = decode(contentFormat, path, req.payload, defaultModel);
      records = decoded.ok ? decoded.records : undefined;
    }
    this.seen.push({ method: req.method, url: path, accept, contentFormat, payload: req.payload, records });
    if (req.method === 'GET') {
      if (accept === 40) {
        res.setOption('Content-Format', 'application/link-format');
        res.end('</5/0>,</5/0/1>,</5/0/3>;dim=1');
        return;
      }
      const format = accept ?? 11542;
      if (this.refuse.has(format)) {
        res.code = '4.06';
        res.end();
        return;
      }
      if (![...this.values.keys()].some((p) => p === path || p.startsWith(`${path}/`))) {
        res.code = '4.04';
        res.end();
        return;
      }
      const body = this.#encode(path, format);
      res.setOption('Content-Format', format);
      if (req.headers.Observe === 0) {
        this.observers.set(path, res as ObserveStream);
        res.on('finish', () => this.observers.delete(path));
        (res as ObserveStream).write(body);
        return;
      }
      res.end(body);
      return;
    }
    if (req.method === 'PUT' || req.method === 'POST') {
      if (contentFormat === undefined) {
        this.executed.push({ path, args: req.payload.toString() });
        res.code = this.executeRefusal?.code ?? '2.04';
        res.end(this.executeRefusal?.payload);
        return;
      }
      if (this.refuse.has(contentFormat) || records === undefined) {
        res.code = '4.15';
        res.end();
        return;
      }
      for (const r of records) this.values.set(r.path, r.value);
      res.code = '2.04';
      res.end();
      return;
    }
    res.code = '4.05';
    res.end();
  }

  nextObserveSeq(): number {
    return this.#observeSeq++;
  }

  close(): Promise<void> {
    this.server.close();
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
