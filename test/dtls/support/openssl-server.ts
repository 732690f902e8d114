import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

export interface OpensslServerOptions {
  readonly identity: string;
  readonly keyHex: string;
  readonly cipher: 'PSK-AES128-CCM8' | 'PSK-AES128-CBC-SHA256';
}

/**
 * `openssl s_server -dtls1_2 -nocert` with a PSK on 127.0.0.1 port 0 (the port is read from its
 * `ACCEPT` line): an independent DTLS server. It echoes nothing; what it receives is in `output`.
 */
export class OpensslServer {
  #output = '';
  readonly #exited: Promise<number | null>;
  readonly #child: ChildProcessWithoutNullStreams;

  private constructor(opts: OpensslServerOptions) {
    this.#child = spawn(
      'openssl',
      [
        's_server',
        '-dtls1_2',
        '-nocert',
        '-accept',
        '127.0.0.1:0',
        '-psk_identity',
        opts.identity,
        '-psk',
        opts.keyHex,
        '-cipher',
        opts.cipher,
      ],
      { stdio: 'pipe' },
    );
    const collect = (chunk: string): void => {
      this.#output += chunk;
    };
    this.#child.stdout.setEncoding('utf8').on('data', collect);
    this.#child.stderr.setEncoding('utf8').on('data', collect);
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
  }

  static async start(opts: OpensslServerOptions): Promise<{ server: OpensslServer; port: number }> {
    const server = new OpensslServer(opts);
    await server.waitForOutput(/^ACCEPT .*:(\d+)$/m);
    const port = Number(/^ACCEPT .*:(\d+)$/m.exec(server.output)![1]);
    return { server, port };
  }

  get output(): string {
    return this.#output;
  }

  /** Types a line into s_server: it is sent to the connected client. */
  write(text: string): void {
    this.#child.stdin.write(text);
  }

  /** Resolves when the output matches; rejects if the process exits first. */
  waitForOutput(pattern: RegExp): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pattern.test(this.#output)) return;
        this.#child.stdout.off('data', check);
        this.#child.stderr.off('data', check);
        resolve();
      };
      check();
      this.#child.stdout.on('data', check);
      this.#child.stderr.on('data', check);
      void this.#exited.then(() => {
        if (!pattern.test(this.#output))
          reject(new Error(`openssl exited without ${pattern}:\n${this.#output}`));
      });
    });
  }

  kill(): Promise<number | null> {
    this.#child.kill();
    return this.#exited;
  }
}
