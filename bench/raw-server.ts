import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import {
  Agent,
  createServer,
  type IncomingMessage,
  type OutgoingMessage,
  parameters,
  type Server,
  updateTiming,
} from 'coap';
import { type CoapTiming, FLEET_TIMING } from '../controller/coap/timing.js';

/**
 * The ceiling: a bare node-coap server doing no work. It answers Register with 2.01 and a location,
 * remembers where each endpoint registered from, and sends CON GETs through an Agent on the same
 * socket — the library's own cost, nothing of otactl's.
 */
export interface RawServer {
  readonly port: number;
  readonly registered: number;
  endpoints(): string[];
  get(endpoint: string, path: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * node-coap reads its timing from one process-wide object when a Server is constructed (response
 * cache TTL, block caches) and when it retransmits; the bare server gets the controller's timing.
 */
function applyTimingToNodeCoap(t: CoapTiming): void {
  updateTiming({
    ackTimeout: t.ackTimeoutMs / 1000,
    ackRandomFactor: t.ackRandomFactor,
    maxRetransmit: t.maxRetransmit,
    maxLatency: t.maxLatencyMs / 1000,
  });
  // node-coap's caches take `exchangeLifetime * 1000` as an lru-cache TTL, which must be an integer.
  parameters.exchangeLifetime = Math.ceil(parameters.exchangeLifetime);
  parameters.maxRTT = Math.ceil(parameters.maxRTT);
}

export async function startRawServer(): Promise<RawServer> {
  applyTimingToNodeCoap(FLEET_TIMING);
  const socket: Socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  socket.setRecvBufferSize(4 * 1024 * 1024);
  const server: Server = createServer({ cacheSize: 1000 });
  const agent = new Agent({ socket });
  const peers = new Map<string, { address: string; port: number }>();
  let id = 0;
  server.on('request', (req: IncomingMessage, res: OutgoingMessage) => {
    try {
      if (req.method === 'POST' && req.url.startsWith('/rd?')) {
        const ep = /[?&]ep=([^&]+)/.exec(req.url)?.[1];
        if (ep !== undefined) peers.set(ep, { address: req.rsinfo.address, port: req.rsinfo.port });
        res.setOption('Location-Path', [Buffer.from('rd'), Buffer.from(String(++id))]);
        res.code = '2.01';
      } else res.code = '4.04';
      res.end();
    } catch {
      // a handler must never throw into node-coap
    }
  });
  server.listen(socket);
  return {
    port: socket.address().port,
    get registered() {
      return peers.size;
    },
    endpoints: () => [...peers.keys()],
    get(endpoint, path) {
      const peer = peers.get(endpoint);
      if (!peer) return Promise.resolve('unknown endpoint');
      return new Promise((resolve) => {
        const req = agent.request({
          hostname: peer.address,
          port: peer.port,
          pathname: path,
          method: 'GET',
          confirmable: true,
        });
        req.on('response', (res: IncomingMessage) => resolve(String(res.code)));
        req.on('error', (error: Error) => resolve(`error: ${error.message}`));
        req.on('timeout', () => resolve('timeout'));
        req.end();
      });
    },
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      try {
        socket.close();
      } catch {
        // already closed by the server
      }
    },
  };
}
