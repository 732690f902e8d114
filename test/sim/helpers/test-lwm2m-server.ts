import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { Agent, createServer, type IncomingMessage, type OutgoingMessage, request, type Server } from 'coap';

/** A registration as this test server saw it. */
export interface TestRegistration {
  readonly id: string;
  readonly endpoint: string;
  readonly address: string;
  readonly port: number;
  readonly query: Readonly<Record<string, string>>;
  readonly body: string;
}

export type ServerEvent =
  | { readonly kind: 'register'; readonly registration: TestRegistration }
  | { readonly kind: 'update'; readonly registration: TestRegistration }
  | { readonly kind: 'deregister'; readonly registration: TestRegistration };

export interface TestResponse {
  readonly code: string;
  readonly format: number | undefined;
  readonly payload: Buffer;
}

export interface Notification {
  readonly seq: number;
  readonly format: number | undefined;
  readonly payload: Buffer;
}

const FORMAT_NAMES: Readonly<Record<string, number>> = {
  'text/plain': 0,
  'application/link-format': 40,
  'application/octet-stream': 42,
  'application/senml+json': 110,
  'application/senml+cbor': 112,
  'application/vnd.oma.lwm2m+tlv': 11542,
  'application/vnd.oma.lwm2m+json': 11543,
  'application/vnd.oma.lwm2m+cbor': 11544,
};

/** node-coap converts known options in place (numbers, format names); raw Buffers otherwise. */
function uintOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return FORMAT_NAMES[value.split(';')[0]!];
  if (!Buffer.isBuffer(value)) return undefined;
  let n = 0;
  for (const b of value) n = n * 256 + b;
  return n;
}

function uint(n: number): Buffer {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from(bytes);
}

interface WithOptions {
  readonly options: readonly { readonly name: string | number; readonly value: unknown }[];
}

function rawOption(message: IncomingMessage, name: string): unknown {
  return (message as unknown as WithOptions).options.find((o) => o.name === name)?.value;
}

/**
 * A minimal LwM2M server for the simulator's tests, on node-coap: accepts Register/Update/
 * De-register and sends Read/Write/Execute/Observe from its one socket (one Agent shared with the
 * server, as real servers must for NAT'd devices).
 */
export class TestLwm2mServer {
  readonly events = new EventEmitter<{ event: [ServerEvent] }>();
  readonly registrations = new Map<string, TestRegistration>();
  /** Every Register/Update/De-register in arrival order. */
  readonly log: ServerEvent[] = [];
  #nextId = 1;
  /** Answer Updates with 4.04 (the server "forgot" registrations). */
  forgetOnUpdate = false;

  private constructor(
    private readonly server: Server,
    private readonly socket: Socket,
    private readonly agent: Agent,
  ) {}

  static async start(): Promise<TestLwm2mServer> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const server = createServer();
    const agent = new Agent({ socket });
    const self = new TestLwm2mServer(server, socket, agent);
    server.on('request', (req: IncomingMessage, res: OutgoingMessage) => {
      try {
        self.#handle(req, res);
      } catch {
        res.code = '5.00';
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(socket, () => resolve()));
    return self;
  }

  get port(): number {
    return this.socket.address().port;
  }

  get uri(): string {
    return `coap://127.0.0.1:${this.port}`;
  }

  #emit(event: ServerEvent): void {
    this.log.push(event);
    this.events.emit('event', event);
  }

  #handle(req: IncomingMessage, res: OutgoingMessage): void {
    const segments = req.url
      .split('?')[0]!
      .split('/')
      .filter((s) => s !== '');
    if (segments[0] !== 'rd') {
      res.code = '4.04';
      res.end();
      return;
    }
    const address = req.rsinfo.address;
    const port = req.rsinfo.port;
    if (segments.length === 1 && req.method === 'POST') {
      const query: Record<string, string> = {};
      for (const o of (req as unknown as WithOptions).options) {
        if (o.name !== 'Uri-Query') continue;
        const [k = '', v = ''] = (o.value as Buffer).toString().split('=');
        query[k] = v;
      }
      const endpoint = query.ep ?? '';
      const id = `r${this.#nextId++}`;
      const registration: TestRegistration = {
        id,
        endpoint,
        address,
        port,
        query,
        body: req.payload.toString(),
      };
      for (const [ep, r] of this.registrations) if (r.endpoint === endpoint) this.registrations.delete(ep);
      this.registrations.set(endpoint, registration);
      res.setOption('Location-Path', [Buffer.from('rd'), Buffer.from(id)]);
      res.code = '2.01';
      res.end();
      this.#emit({ kind: 'register', registration });
      return;
    }
    const registration = [...this.registrations.values()].find((r) => r.id === segments[1]);
    if (registration === undefined || (req.method === 'POST' && this.forgetOnUpdate)) {
      res.code = '4.04';
      res.end();
      return;
    }
    if (req.method === 'POST') {
      const moved = { ...registration, address, port };
      this.registrations.set(registration.endpoint, moved);
      res.code = '2.04';
      res.end();
      this.#emit({ kind: 'update', registration: moved });
      return;
    }
    if (req.method === 'DELETE') {
      this.registrations.delete(registration.endpoint);
      res.code = '2.02';
      res.end();
      this.#emit({ kind: 'deregister', registration });
      return;
    }
    res.code = '4.05';
    res.end();
  }

  /** Resolves with the first server event (from now on) that matches. */
  waitFor(match: (event: ServerEvent) => boolean): Promise<ServerEvent> {
    return new Promise((resolve) => {
      const listener = (event: ServerEvent) => {
        if (!match(event)) return;
        this.events.off('event', listener);
        resolve(event);
      };
      this.events.on('event', listener);
    });
  }

  /** Resolves once `endpoint` is registered (at once if it already is). */
  async registered(endpoint: string): Promise<TestRegistration> {
    const now = this.registrations.get(endpoint);
    if (now !== undefined) return now;
    const e = await this.waitFor((ev) => ev.kind === 'register' && ev.registration.endpoint === endpoint);
    return e.registration;
  }

  #target(endpoint: string): TestRegistration {
    const r = this.registrations.get(endpoint);
    if (r === undefined) throw new Error(`${endpoint} is not registered`);
    return r;
  }

  #request(
    endpoint: string,
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    opts: { accept?: number; format?: number; payload?: Buffer; observe?: boolean; query?: string },
  ) {
    const r = this.#target(endpoint);
    const req = request({
      host: r.address,
      port: r.port,
      method,
      pathname: path,
      agent: this.agent,
      confirmable: true,
      ...(opts.query === undefined ? {} : { query: opts.query }),
      ...(opts.observe ? { observe: true } : {}),
    });
    if (opts.accept !== undefined) req.setOption('Accept', uint(opts.accept));
    if (opts.format !== undefined) req.setOption('Content-Format', uint(opts.format));
    return req.end(opts.payload);
  }

  async send(
    endpoint: string,
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    opts: { accept?: number; format?: number; payload?: Buffer; query?: string } = {},
  ): Promise<TestResponse> {
    const req = this.#request(endpoint, method, path, opts);
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    return { code: res.code, format: uintOf(rawOption(res, 'Content-Format')), payload: res.payload };
  }

  read(endpoint: string, path: string, accept?: number): Promise<TestResponse> {
    return this.send(endpoint, 'GET', path, accept === undefined ? {} : { accept });
  }

  writeText(endpoint: string, path: string, text: string): Promise<TestResponse> {
    return this.send(endpoint, 'PUT', path, { format: 0, payload: Buffer.from(text) });
  }

  execute(endpoint: string, path: string): Promise<TestResponse> {
    return this.send(endpoint, 'POST', path);
  }

  /**
   * Observes `path`; every notification (including the first answer) is pushed to `notifications`,
   * unfiltered, so reordered and duplicated ones are visible.
   */
  async observe(
    endpoint: string,
    path: string,
    accept?: number,
  ): Promise<{
    first: TestResponse;
    notifications: Notification[];
    next(): Promise<Notification>;
    close(): void;
  }> {
    const req = this.#request(endpoint, 'GET', path, {
      observe: true,
      ...(accept === undefined ? {} : { accept }),
    });
    const [res] = (await once(req, 'response')) as [IncomingMessage & { _disableFiltering?: boolean }];
    res._disableFiltering = true;
    const notifications: Notification[] = [];
    const waiters: (() => void)[] = [];
    let consumed = 0;
    res.on('data', (payload: Buffer) => {
      const n = {
        seq: uintOf(rawOption(res, 'Observe')) ?? 0,
        format: uintOf(rawOption(res, 'Content-Format')),
        payload,
      };
      notifications.push(n);
      for (const w of waiters.splice(0)) w();
    });
    return {
      first: { code: res.code, format: uintOf(rawOption(res, 'Content-Format')), payload: res.payload },
      notifications,
      /** The next notification not yet returned by `next` (the first answer counts as one). */
      next: () => {
        const index = consumed++;
        const ready = notifications[index];
        if (ready !== undefined) return Promise.resolve(ready);
        return new Promise((resolve) => {
          const check = () => {
            const n = notifications[index];
            if (n !== undefined) resolve(n);
            else waiters.push(check);
          };
          check();
        });
      },
      close: () => (res as unknown as { close(): void }).close(),
    };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.socket.close();
  }
}
