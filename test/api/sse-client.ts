import { type IncomingMessage, request } from 'node:http';

export interface SseMessage {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
}

export interface SseOptions {
  readonly headers?: Record<string, string>;
  /** Connect from this loopback address (any 127.x.y.z on Linux) to act as another client. */
  readonly localAddress?: string;
}

/** Reads a text/event-stream over a real socket; `next(predicate)` resolves with the first matching message. */
export async function openSse(port: number, path: string, options: SseOptions = {}) {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        headers: { Accept: 'text/event-stream', ...options.headers },
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      resolve,
    );
    req.on('error', reject);
    req.end();
  });
  const received: SseMessage[] = [];
  const waiters: Array<{ test: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }> = [];
  let buffer = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        if (line.startsWith(':') || !line.includes(':')) continue;
        const at = line.indexOf(':');
        fields.set(line.slice(0, at), line.slice(at + 1).trimStart());
      }
      if (!fields.has('data')) continue;
      const message = {
        event: fields.get('event') ?? 'message',
        id: fields.get('id'),
        data: fields.get('data') ?? '',
      };
      received.push(message);
      for (const waiter of [...waiters]) {
        if (waiter.test(message)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
    }
  });
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    received,
    next(test: (m: SseMessage) => boolean): Promise<SseMessage> {
      const seen = received.find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ test, resolve }));
    },
    close(): void {
      res.destroy();
    },
  };
}
