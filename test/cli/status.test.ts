import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createHttpApp } from '../../controller/api/http-app.js';
import { startHttpServer } from '../../controller/api/http-server.js';
import { openDatabase } from '../../controller/store/index.js';
import { OTACTL_BIN } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { closedPort, seededDataDir } from './support/fixtures.js';

const seeded = seededDataDir('otactl-status-');

/** Serves the seeded data directory through the HTTP API for the duration of `body`. */
async function withServer<T>(
  body: (url: string, db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>,
): Promise<T> {
  const store = await openDatabase({ kind: 'pglite', dataDir: seeded.dataDir });
  const app = createHttpApp({ db: store.db });
  const server = await startHttpServer({ port: 0, host: '127.0.0.1', app });
  try {
    return await body(`http://127.0.0.1:${server.port}`, store);
  } finally {
    await server.close();
    await store.close();
  }
}

describe('otactl status', () => {
  let fromDatabase: string;

  it('prints phase, step, a progress bar per step, counts and recent failures for every rollout', async () => {
    const result = await runMain(['status', '--db', seeded.dataDir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    fromDatabase = result.stdout;
    const out = result.stdout;
    expect(out).toContain('canary  Progressing  step 2/3  target sensor-1.1.0 (1.1.0)  revision abc1234def');
    expect(out).toContain('total       [##########----------] 150/300 up to date (50%)');
    // 6 failed: the current step (2) and later ones hold every device started, failed ones as `x`;
    // step 1, before it, cannot say which of them were its own
    expect(out).toMatch(/step 1 {2}10% \[####################\] 30\/30\s+completed \(then pauses 30s\)/);
    expect(out).toMatch(
      /step 2 {2}50% \[###################x\] 150\/150 current \(6 failed; then waits for approval\)/,
    );
    expect(out).toMatch(/step 3 100% \[##########x---------\] 156\/300 pending \(6 failed\)/);
    expect(out).toContain(
      'in flight 20 (downloading 12, downloaded 0, updating 8) · succeeded 140 · failed 6',
    );
    expect(out).toContain('failed by reason: 4 × connection lost, 2 × timeout');
    expect(out).toMatch(
      /recent failures:\n\s+dev-003\s+attempt 1\s+result 5 integrity check failure\s+2025-03-01T10:09:00.000Z/,
    );
    expect(out).toMatch(/dev-001\s+attempt 1\s+result 4 connection lost during download — connection lost/);
    expect(out).toContain('beta  Completed  step 3/3');
  });

  it('prints one rollout as JSON', async () => {
    const result = await runMain(['status', 'canary', '--json', '--db', seeded.dataDir]);
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body).toMatchObject({ name: 'canary', phase: 'Progressing', currentStep: 1, progress: 0.5 });
    expect(body.recentFailures.map((f: { endpoint: string }) => f.endpoint)).toEqual(['dev-003', 'dev-001']);
  });

  it('exits 1 naming a rollout that does not exist', async () => {
    const result = await runMain(['status', 'nope', '--db', seeded.dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('otactl: rollout "nope" not found\n');
  });

  it('reads the same from a running controller with --server', async () => {
    await withServer(async (url) => {
      const result = await runMain(['status', '--server', url]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(fromDatabase);
    });
  });

  it('says in one line when the server cannot be reached', async () => {
    const port = await closedPort();
    const result = await runMain(['status', '--server', `http://127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `^otactl: cannot reach the otactl API at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\\n$`,
      ),
    );
  });

  it('refreshes with --watch until interrupted, then exits 0', async () => {
    await withServer(async (url, store) => {
      const child = spawn(process.execPath, [OTACTL_BIN, 'status', 'canary', '--watch', '--server', url], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let seen: (() => void) | undefined;
      let wanted = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (wanted && stdout.includes(wanted)) seen?.();
      });
      const waitFor = (text: string) =>
        new Promise<void>((resolve) => {
          wanted = text;
          seen = resolve;
          if (stdout.includes(text)) resolve();
        });
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      await waitFor('canary  Progressing');
      await store.db.updateTable('rollouts').set({ phase: 'Paused' }).where('name', '=', 'canary').execute();
      await waitFor('canary  Paused');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      await store.db
        .updateTable('rollouts')
        .set({ phase: 'Progressing' })
        .where('name', '=', 'canary')
        .execute();
    });
  });

  // A real process: only one shows what a closed pipe does to it.
  it('stops quietly with exit 0 when its reader goes away (`status --watch | head -1`)', async () => {
    await withServer(async (url) => {
      const child = spawn(process.execPath, [OTACTL_BIN, 'status', '--watch', '--server', url], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      // The first screen read, the reader closes its end; the next refresh finds no one.
      child.stdout.once('data', () => child.stdout.destroy());
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
    });
  });
});
