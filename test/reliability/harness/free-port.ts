import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports for a controller that is killed and restarted on the same ports. They are picked below
 * the kernel's ephemeral range, so no socket bound to port 0 (every simulated device, every other
 * test) can take one while the controller is down between a kill and its restart; only another
 * explicit pick could, and a pick is checked free by binding it.
 */
const LOWEST = 10_000;

function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > LOWEST + 1000 ? n : 32_768;
  } catch {
    return 32_768;
  }
}

async function pick(isFree: (port: number) => Promise<boolean>): Promise<number> {
  const end = ephemeralStart();
  for (let tries = 0; tries < 200; tries++) {
    const port = LOWEST + Math.floor(Math.random() * (end - LOWEST));
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port in ${LOWEST}-${end - 1}`);
}

/** Whether nothing listens on this TCP port now: listens on it and lets it go. */
export function tcpFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Whether nothing is bound to this UDP port now: binds it and lets it go. */
export function udpFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, host, () => socket.close(() => resolve(true)));
  });
}

export function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return pick((port) => tcpFree(port, host));
}

export function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  return pick((port) => udpFree(port, host));
}

/** A TCP port held open on `host` until `release`: nothing else can listen on it meanwhile. */
export async function holdTcpPort(host = '127.0.0.1'): Promise<{ port: number; release(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
