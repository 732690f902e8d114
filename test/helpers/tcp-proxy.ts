import { createConnection, createServer, type Socket } from 'node:net';

/** A TCP proxy to a database whose link a test can cut (a partition) and restore. */
export interface TcpProxy {
  readonly port: number;
  /**
   * Stops carrying bytes both ways, on open connections and new ones, without closing anything
   * (a side that closes meanwhile is not seen closing by the other until the link heals): queries
   * hang as they do when a network path is lost, rather than fail at once.
   */
  partition(): void;
  /**
   * Cuts the link as `partition` does once a client has sent a chunk that contains `text`, right
   * after passing that chunk on: the database runs that statement and its answer is lost.
   * Resolves once cut.
   */
  partitionAfter(text: string): Promise<void>;
  heal(): void;
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** One side closed during the partition: the other learns it when the link heals. */
  closed: boolean;
}

/** Bytes flow both ways: the client's through its 'data' listener, the database's through a pipe. */
function join(link: Link): void {
  link.upstream!.pipe(link.client);
  link.client.resume();
}

/** No byte flows either way; what arrives stays in the kernel's buffers. */
function split(link: Link): void {
  link.client.pause();
  link.upstream?.unpipe();
  link.upstream?.pause();
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const links = new Set<Link>();
  let cut = false;
  let cutAfter: { readonly text: string; readonly done: () => void } | undefined;
  const partition = () => {
    cut = true;
    for (const link of links) split(link);
  };
  const end = (link: Link) => {
    link.closed = true;
    if (cut) return;
    link.client.destroy();
    link.upstream?.destroy();
    links.delete(link);
  };
  const connect = (link: Link) => {
    const upstream = createConnection(target);
    link.upstream = upstream;
    join(link);
    upstream.on('error', () => end(link)).on('close', () => end(link));
  };
  const server = createServer((client) => {
    const link: Link = { client, upstream: undefined, closed: false };
    links.add(link);
    client.pause();
    client.on('data', (chunk: Buffer) => {
      if (!link.closed) link.upstream!.write(chunk);
      if (cutAfter !== undefined && chunk.includes(cutAfter.text)) {
        const { done } = cutAfter;
        cutAfter = undefined;
        partition();
        done();
      }
    });
    client.on('error', () => end(link)).on('close', () => end(link));
    if (!cut) connect(link);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    partition,
    partitionAfter(text) {
      return new Promise((done) => {
        cutAfter = { text, done };
      });
    },
    heal() {
      cut = false;
      for (const link of links) {
        if (link.closed) end(link);
        else if (link.upstream === undefined) connect(link);
        else join(link);
      }
    },
    async close() {
      for (const link of links) {
        link.client.destroy();
        link.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
