import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { OTACTL_BIN } from '../../helpers/run-cli.js';
import { waitFor } from './wait-for.js';

export interface ControllerProcessOptions {
  /** A PGlite data directory or a postgres:// URL. */
  readonly db: string;
  readonly manifestsDir: string;
  readonly firmwareDir: string;
  /** Fixed ports, so devices and restarts find the controller where it was. */
  readonly coapPort: number;
  readonly httpPort: number;
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * `--replica-id`; default one derived from the CoAP port, so a restart on the same options is the
   * same replica and takes its planner lease back at once, as an operator's stable id does.
   */
  readonly replicaId?: string;
  /** CoAP over DTLS; default off. */
  readonly coapsPort?: number;
  readonly extraArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One pino JSON line of the controller's output (or the raw text when it is not JSON). */
export interface LogLine {
  readonly level?: number;
  readonly msg?: string;
  readonly raw: string;
  readonly [key: string]: unknown;
}

type LogWaiter = { readonly match: (line: LogLine) => boolean; readonly resolve: (line: LogLine) => void };

/**
 * The real `otactl run` in a child process, as an operator starts it: it can be killed with any
 * signal at any moment and started again on the same database and ports.
 */
export class ControllerProcess {
  readonly options: ControllerProcessOptions;
  readonly #child: ChildProcess;
  readonly exited: Promise<Exit>;
  readonly lines: LogLine[] = [];
  #stderr = '';
  #partial = '';
  #exit: Exit | undefined;
  #waiters: LogWaiter[] = [];
  #stopRequested = false;

  private constructor(options: ControllerProcessOptions) {
    this.options = options;
    const args = [
      OTACTL_BIN,
      'run',
      '--db',
      options.db,
      '--manifests',
      options.manifestsDir,
      '--firmware-dir',
      options.firmwareDir,
      '--coap-port',
      String(options.coapPort),
      // Off unless asked for: the default 5684 is one port for every controller the suite runs
      // at once (two process tests in parallel refused each other's start).
      '--coaps-port',
      options.coapsPort === undefined ? 'off' : String(options.coapsPort),
      '--http-port',
      String(options.httpPort),
      '--bind',
      '127.0.0.1',
      '--public-host',
      '127.0.0.1',
      '--schemes',
      'http,coap',
      '--max-downloads-per-client',
      '10000',
      '--log-level',
      options.logLevel ?? 'warn',
      '--replica-id',
      options.replicaId ?? `controller-${options.coapPort}`,
      ...(options.extraArgs ?? []),
    ];
    this.#child = spawn(process.execPath, args, {
      env: { ...process.env, DATABASE_URL: '', OTACTL_API_TOKEN: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.#onStdout(chunk));
    this.#child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-20_000);
    });
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
      this.#child.once('error', () => resolve({ code: -1, signal: null }));
    });
  }

  /** Starts the controller and resolves once its HTTP port answers /healthz. */
  static async start(options: ControllerProcessOptions): Promise<ControllerProcess> {
    const controller = new ControllerProcess(options);
    await controller.#waitHealthy();
    return controller;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /**
   * Resolves with the exit if the process ends without being asked to (kill/stop): a crash.
   * Never resolves otherwise.
   */
  get crashed(): Promise<Exit> {
    return this.exited.then((exit) => (this.#stopRequested ? new Promise<Exit>(() => {}) : exit));
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.options.httpPort}`;
  }

  /** The tail of stderr and the last log lines, for assertion messages. */
  diagnostics(): string {
    const tail = this.lines
      .slice(-20)
      .map((l) => l.raw)
      .join('\n');
    return `exit: ${JSON.stringify(this.#exit)}\nstderr:\n${this.#stderr}\nlog tail:\n${tail}`;
  }

  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  /** Sends `signal` and resolves once the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.#exit) return this.#exit;
    this.#stopRequested = true;
    this.#child.kill(signal);
    return this.exited;
  }

  /** A graceful stop (SIGTERM), falling back to SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<Exit> {
    if (this.#exit) return this.#exit;
    this.#stopRequested = true;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** Resident set size in bytes from /proc (Linux); undefined elsewhere or after exit. */
  async rssBytes(): Promise<number | undefined> {
    try {
      const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      return match ? Number(match[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  async get(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000), ...init });
  }

  async #waitHealthy(): Promise<void> {
    const exited = this.exited.then(() => 'exited' as const);
    const healthy = waitFor(
      `otactl run to answer /healthz on port ${this.options.httpPort}`,
      async () => {
        if (!this.alive) return 'exited' as const;
        const res = await this.get('/healthz');
        await res.arrayBuffer();
        return res.ok ? ('healthy' as const) : undefined;
      },
      { intervalMs: 100, timeoutMs: 60_000 },
    );
    const first = await Promise.race([healthy, exited]);
    if (first === 'exited') {
      throw new Error(`otactl run exited before it was up\n${this.diagnostics()}`);
    }
  }

  #onStdout(chunk: string): void {
    const text = this.#partial + chunk;
    const parts = text.split('\n');
    this.#partial = parts.pop() ?? '';
    for (const raw of parts) {
      if (raw.trim() === '') continue;
      let line: LogLine;
      try {
        line = { ...(JSON.parse(raw) as object), raw };
      } catch {
        line = { raw };
      }
      // Keep memory bounded in long runs: the newest lines are the interesting ones.
      if (this.lines.length >= 5_000) this.lines.splice(0, 1_000);
      this.lines.push(line);
      const waiting = this.#waiters;
      this.#waiters = [];
      for (const waiter of waiting) {
        if (waiter.match(line)) waiter.resolve(line);
        else this.#waiters.push(waiter);
      }
    }
  }
}
