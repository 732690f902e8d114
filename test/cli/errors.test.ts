import { createSocket, type Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../controller/api/http-app.js';
import { startHttpServer } from '../../controller/api/http-server.js';
import { openDatabase } from '../../controller/store/index.js';
import { runMain } from '../helpers/run-main.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otactl-cli-errors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One line on standard error, matching `pattern`: no stack trace, no "internal error". */
function expectOneLine(stderr: string, pattern: RegExp): void {
  expect(stderr).not.toMatch(/internal error|\n\s+at /);
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe('a bad flag', () => {
  const cases: [string[], RegExp][] = [
    [['run', '--coap-port', 'abc'], /^otactl: --coap-port: not a port number \(0 to 65535, or 'off'\): abc$/],
    [['run', '--http-port', '99999'], /^otactl: --http-port: not a port number \(0 to 65535\): 99999$/],
    [['run', '--https-port', '-1'], /^otactl: --https-port: not a port number \(0 to 65535\): -1$/],
    [['run', '--lease-retry', '0s'], /^otactl: --lease-retry: must be more than 0: 0s$/],
    [['run', '--git-interval', 'soon'], /^otactl: --git-interval: not a duration \(e\.g\. .*\): soon$/],
    [['run', '--signed-urls', 'forever'], /^otactl: --signed-urls: not a duration \(e\.g\. .*\): forever$/],
    [
      ['run', '--max-http-connections', '0'],
      /^otactl: --max-http-connections: expected a whole number from 1 to 1000000, got "0"$/,
    ],
    [
      ['run', '--log-level', 'loud'],
      /^otactl: --log-level: unknown level "loud" \(one of fatal, error, warn, info, debug, trace, silent\)$/,
    ],
    [['run', '--http-port'], /^otactl: option '--http-port <n>' argument missing \(see otactl run --help\)$/],
    [['run', '--bogus'], /^otactl: unknown option '--bogus' \(see otactl run --help\)$/],
    [['sim', '--count', 'ten'], /^otactl: --count: expected a whole number from 1 to 1000000, got "ten"$/],
    [
      ['sim', '--server', 'coap://127.0.0.1:1', '--faults', 'gremlins'],
      /^otactl: --faults: unknown fault 'gremlins' \(known: download-fails, /,
    ],
    [['sim', '--stagger-ms', '1.5'], /^otactl: --stagger-ms: expected a whole number from 0 to 60000/],
    [
      ['status', '--api-tokn', 'x'],
      /^otactl: unknown option '--api-tokn' \(Did you mean --api-token\?\) \(see otactl status --help\)$/,
    ],
    [
      ['pki', 'init'],
      /^otactl: required option '--host <name\.\.\.>' not specified \(see otactl pki init --help\)$/,
    ],
  ];
  it.each(cases)('%j exits 2 with one line naming it, before opening anything', async (args, pattern) => {
    const db = join(dir, 'never');
    const result = await runMain(args[0] === 'run' ? ['run', '--db', db, ...args.slice(1)] : args);
    expectOneLine(result.stderr, pattern);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(existsSync(db)).toBe(false);
  });
});

describe('otactl run cannot listen', () => {
  const base = ['run', '--db', 'memory', '--bind', '127.0.0.1', '--log-level', 'silent'];

  it('names a CoAP port another process uses, its flag, and how to find the process', async () => {
    const socket: Socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address();
    try {
      // --coaps-port binds the same way (each run opens and migrates a database: one is enough).
      for (const flag of ['--coap-port']) {
        const result = await runMain([
          ...base,
          ...['--manifests', dir, '--firmware-dir', dir, '--http-port', '0'],
          ...[flag, String(port), '--coaps-port', '0'],
        ]);
        expectOneLine(
          result.stderr,
          new RegExp(
            `^otactl: cannot listen on UDP port ${port} \\(${flag}\\): another process is using it \\(find it with: ss -lunp 'sport = :${port}'\\); stop it or choose another port with ${flag}$`,
          ),
        );
        expect(result.code).toBe(1);
      }
    } finally {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
  });

  it('serves HTTPS on 8443 with --tls-dir alone, as the hint of pki init says', async () => {
    const tls = join(dir, 'tls');
    const init = await runMain(['pki', 'init', '--host', 'localhost', '--out', tls]);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain(`serve with: otactl run --tls-dir ${tls} --https-port 8443\n`);
    // 8443 held here (or by someone else already): the run must have tried to serve HTTPS on it.
    const holder: Server = createServer();
    await new Promise<void>((resolve) => {
      holder.once('error', () => resolve());
      holder.listen(8443, '127.0.0.1', resolve);
    });
    try {
      const result = await runMain([
        ...base,
        ...['--manifests', dir, '--firmware-dir', dir, '--http-port', '0'],
        ...['--coap-port', '0', '--coaps-port', 'off', '--tls-dir', tls],
      ]);
      expectOneLine(
        result.stderr,
        /^otactl: cannot listen on TCP port 8443 \(--https-port\): another process/,
      );
      expect(result.code).toBe(1);
    } finally {
      if (holder.listening) await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});

describe('read-only commands without a database', () => {
  it.each([['status'], ['history', 'dev-1'], ['plan', '--manifests', '.']])(
    '%s says there is none and creates nothing',
    async (...args) => {
      const db = join(dir, 'nothing', 'db');
      const result = await runMain([...args, '--db', db]);
      expectOneLine(result.stderr, new RegExp(`^otactl: no database at ${db} \\(otactl run creates it`));
      expect(result.code).toBe(1);
      expect(existsSync(join(dir, 'nothing'))).toBe(false);
    },
  );
});

describe('otactl plan --server', () => {
  it('sends --api-token like status and history', async () => {
    const store = await openDatabase({ kind: 'memory' });
    const app = createHttpApp({ db: store.db, apiToken: 'plan-token', plan: async () => [] });
    const server = await startHttpServer({ port: 0, host: '127.0.0.1', app });
    const url = `http://127.0.0.1:${server.port}`;
    try {
      const withToken = await runMain(['plan', '--server', url, '--api-token', 'plan-token']);
      expect(withToken.stderr).toBe('');
      expect(withToken.stdout).toBe('No rollouts declared.\n');
      expect(withToken.code).toBe(0);
      const without = await runMain(['plan', '--server', url]);
      expectOneLine(without.stderr, /refused the request: pass --api-token or set OTACTL_API_TOKEN$/);
      expect(without.code).toBe(1);
    } finally {
      await server.close();
      await store.close();
    }
  });
});

describe('otactl run --help', () => {
  it('says the bare --signed-urls ttl once and lists the log levels', async () => {
    const result = await runMain(['run', '--help']);
    expect(result.code).toBe(0);
    const help = result.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('valid for ttl (1h when given without one)');
    expect(help).not.toContain('preset');
    expect(help).toContain('--log-level <level> log level: fatal, error, warn, info, debug, trace, silent');
  });
});
