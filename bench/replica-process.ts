import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitFor } from './concurrency.js';

const OTACTL_BIN = fileURLToPath(new URL('../bin/otactl.js', import.meta.url));

export interface ReplicaProcessOptions {
  readonly id: string;
  /** A postgres:// URL shared by the replicas. */
  readonly db: string;
  readonly manifestsDir: string;
  readonly firmwareDir: string;
}

/** A port the system picked and let go, for a process that cannot report the one it was given. */
async function freePort(kind: 'udp' | 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address();
    await new Promise<void>((resolve) => socket.close(resolve));
    return port;
  }
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * One `otactl run` replica in its own process, as an operator starts it. It logs at warn, as the
 * in-process controller of the single-replica figure logs nothing: its ports are picked for it.
 */
export class ReplicaProcess {
  readonly id: string;
  readonly coapPort: number;
  readonly httpPort: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<unknown>;
  #output = '';

  private constructor(options: ReplicaProcessOptions, coapPort: number, httpPort: number) {
    this.id = options.id;
    this.coapPort = coapPort;
    this.httpPort = httpPort;
    const args = [
      OTACTL_BIN,
      'run',
      ...['--db', options.db, '--manifests', options.manifestsDir, '--firmware-dir', options.firmwareDir],
      ...['--coap-port', String(coapPort), '--coaps-port', 'off', '--http-port', String(httpPort)],
      ...['--bind', '127.0.0.1', '--public-host', '127.0.0.1', '--schemes', 'http'],
      ...['--max-downloads-per-client', '100000', '--replica-id', options.id, '--log-level', 'warn'],
    ];
    this.#child = spawn(process.execPath, args, {
      env: { ...process.env, DATABASE_URL: '', OTACTL_API_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#exited = once(this.#child, 'exit');
    // Both read (a full pipe would stall the replica); the tail is for a failure's message.
    for (const stream of [this.#child.stdout!, this.#child.stderr!]) {
      stream.setEncoding('utf8').on('data', (chunk: string) => {
        this.#output = (this.#output + chunk).slice(-4000);
      });
    }
  }

  /** Starts the replica; resolves once its manifests are loaded and it answers /readyz. */
  static async start(options: ReplicaProcessOptions, timeoutMs: number): Promise<ReplicaProcess> {
    const replica = new ReplicaProcess(options, await freePort('udp'), await freePort('tcp'));
    try {
      await waitFor(
        `replica ${options.id} to be ready`,
        async () => {
          if (replica.#child.exitCode !== null) throw new Error(`replica ${options.id} exited at start`);
          return (
            (await fetch(`http://127.0.0.1:${replica.httpPort}/readyz`).catch(() => undefined))?.ok === true
          );
        },
        timeoutMs,
        100,
      );
    } catch (error) {
      await replica.stop();
      throw new Error(`${(error as Error).message}\n${replica.#output}`);
    }
    return replica;
  }

  /** CPU seconds (user + system) the process used so far, from /proc (Linux); 0 elsewhere. */
  cpuSeconds(): number {
    try {
      const stat = readFileSync(`/proc/${this.#child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return 0;
    }
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}
