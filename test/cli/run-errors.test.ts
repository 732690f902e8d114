import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../controller/store/index.js';
import { busyTcpPort } from '../app/busy-port.js';
import { runOtactl } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otactl-run-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('otactl run', () => {
  // The run exits by itself: a socket or timer left open by the failed start would keep it alive.
  it('with its HTTP port in use, says so in one line and exits 1 having released the rest', async () => {
    const port = await busyTcpPort();
    const db = join(dir, 'db');
    const result = await runOtactl([
      'run',
      '--db',
      db,
      '--manifests',
      dir,
      '--firmware-dir',
      dir,
      '--coap-port',
      '0',
      '--coaps-port',
      '0',
      '--http-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--log-level',
      'silent',
    ]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^otactl: cannot listen on TCP port ${port} \\(--http-port\\): another process is using it \\(find it with: ss -ltnp 'sport = :${port}'\\); stop it or choose another port with --http-port$`,
      ),
    );
    // The run opened (and migrated) the database before the controller failed.
    const again = await openDatabase({ kind: 'pglite', dataDir: db }, { migrate: false });
    await again.close();
  });

  for (const [flags, message] of [
    [['--coap-port', 'off', '--coaps-port', 'off'], /^otactl: --coap-port and --coaps-port are both off/],
    [['--coaps-port', '70000'], /^otactl: --coaps-port: not a port number \(0 to 65535, or 'off'\): 70000$/],
    [['--coap-port', 'of'], /^otactl: --coap-port: not a port number \(0 to 65535, or 'off'\): of$/],
  ] as const) {
    // In this process: the exit code is main's (the process exit is covered above).
    it(`refuses ${flags.join(' ')} in one line with exit 2, before opening anything`, async () => {
      const db = join(dir, 'db');
      const result = await runMain([
        'run',
        '--db',
        db,
        '--manifests',
        dir,
        '--log-level',
        'silent',
        ...flags,
      ]);
      expect(result.code).toBe(2);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(existsSync(db)).toBe(false);
    });
  }
});
