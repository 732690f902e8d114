import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

export interface OpensslOptions {
  readonly port: number;
  /** 127.0.0.1 unless given (an IPv6 address in brackets). */
  readonly host?: string;
  readonly identity: string;
  readonly keyHex: string;
  readonly cipher: 'PSK-AES128-CCM8' | 'PSK-AES128-CBC-SHA256';
  readonly extra?: readonly string[];
}

/** `openssl s_client -dtls1_2` with a PSK, driven over stdin and stdout: an independent DTLS peer. */
export class OpensslClient {
  #output = '';
  readonly #exited: Promise<number | null>;
  readonly #child: ChildProcessWithoutNullStreams;

  constructor(opts: OpensslOptions) {
    this.#child = spawn(
      'openssl',
      [
        's_client',
        '-dtls1_2',
        '-connect',
        `${opts.host ?? '127.0.0.1'}:${opts.port}`,
        '-psk_identity',
        opts.identity,
        '-psk',
        opts.keyHex,
        '-cipher',
        opts.cipher,
        ...(opts.extra ?? []),
      ],
      { stdio: 'pipe' },
    );
    this.#child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.#output += chunk;
    });
    this.#child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.#output += chunk;
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
  }

  get output(): string {
    return this.#output;
  }

  write(text: string): void {
    this.#child.stdin.write(text);
  }

  /** Resolves when the output (stdout and stderr) matches; rejects if the process exits first. */
  waitForOutput(pattern: RegExp): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!pattern.test(this.#output)) return false;
        this.#child.stdout.off('data', check);
        this.#child.stderr.off('data', check);
        resolve();
        return true;
      };
      if (check()) return;
      this.#child.stdout.on('data', check);
      this.#child.stderr.on('data', check);
      void this.#exited.then(() => {
        if (!pattern.test(this.#output))
          reject(new Error(`openssl exited without ${pattern}:\n${this.#output}`));
      });
    });
  }

  /** Closes stdin: s_client sends close_notify and exits. */
  end(): Promise<number | null> {
    this.#child.stdin.end();
    return this.#exited;
  }

  kill(): Promise<number | null> {
    this.#child.kill();
    return this.#exited;
  }
}
