import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { type Kysely, sql } from 'kysely';

/**
 * CPU seconds (user + system) used so far by the Postgres backends serving this process's own
 * connections: found through the local ports of this process's TCP sockets to the server, matched
 * with pg_stat_activity.client_port. Linux only (/proc); undefined elsewhere or when it cannot tell.
 * Postgres' shared background processes (WAL writer, checkpointer) are not counted.
 */
export async function postgresBackendCpuSeconds<DB>(db: Kysely<DB>): Promise<number | undefined> {
  try {
    const server = await sql<{ port: number | null }>`select inet_server_port() as port`.execute(db);
    const serverPort = server.rows[0]?.port;
    if (serverPort === null || serverPort === undefined) return undefined;
    const ports = ownTcpPortsTo(serverPort);
    if (ports.length === 0) return undefined;
    const rows = await sql<{ pid: number }>`
      select pid from pg_stat_activity where client_port = any(${ports}::int[])`.execute(db);
    let ticks = 0;
    for (const { pid } of rows.rows) ticks += processTicks(pid);
    return ticks / 100;
  } catch {
    return undefined;
  }
}

/** CPU ticks (user + system, 1/100 s) of a process from /proc/<pid>/stat. */
function processTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Local ports of this process's TCP connections to `remotePort` (loopback, IPv4 or IPv6). */
function ownTcpPortsTo(remotePort: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match) inodes.add(match[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = f[1]!;
      const remote = f[2]!;
      if (Number.parseInt(remote.slice(remote.indexOf(':') + 1), 16) !== remotePort) continue;
      if (!inodes.has(f[9]!)) continue;
      ports.push(Number.parseInt(local.slice(local.indexOf(':') + 1), 16));
    }
  }
  return ports;
}
