import { createConnection, createServer, type Socket } from 'node:net';

/** A TCP proxy to a database whose link a test can cut (a partition) and restore. */
export interface TcpProxy {
  readonly port: number;
  /**
   * Stops carrying bytes both ways, on open connections and new ones, without closing anything:
   * queries hang as they do when a network path is lost, rather than fail at once.
   */
  partition(): void;
  heal(): void;
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  upstream: Socket | undefined;
}

/** Bytes flow both ways (pipe resumes both sockets). */
function join(link: Link): void {
  link.client.pipe(link.upstream!);
  link.upstream!.pipe(link.client);
}

/** No byte flows either way; what arrives stays in the kernel's buffers. */
function split(link: Link): void {
  link.client.unpipe();
  link.client.pause();
  link.upstream?.unpipe();
  link.upstream?.pause();
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const links = new Set<Link>();
  let cut = false;
  const connect = (link: Link) => {
    const upstream = createConnection(target);
    link.upstream = upstream;
    join(link);
    const end = () => {
      link.client.destroy();
      upstream.destroy();
      links.delete(link);
    };
    upstream.on('error', end).on('close', end);
  };
  const server = createServer((client) => {
    const link: Link = { client, upstream: undefined };
    links.add(link);
    client.on('error', () => client.destroy());
    client.on('close', () => {
      link.upstream?.destroy();
      links.delete(link);
    });
    if (cut) client.pause();
    else connect(link);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    partition() {
      cut = true;
      for (const link of links) split(link);
    },
    heal() {
      cut = false;
      for (const link of links) {
        if (link.upstream === undefined) connect(link);
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
