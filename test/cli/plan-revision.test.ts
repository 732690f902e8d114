import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../controller/api/http-app.js';
import { startHttpServer } from '../../controller/api/http-server.js';
import { openDatabase, recordCommits, recordManifestsLoad } from '../../controller/store/index.js';
import { seedPgliteDataDir } from '../helpers/databases.js';
import {
  createWorkspace,
  firmwareManifest,
  groupManifest,
  rolloutManifest,
  type Workspace,
} from '../helpers/rollout-fixture.js';
import { runMain } from '../helpers/run-main.js';
import { git } from '../manifests/git-helpers.js';

async function fleetWorkspace(): Promise<Workspace & { readonly firmware: string }> {
  const ws = await createWorkspace('otactl-plan-revision-');
  const target = await ws.addFirmware('2.0.0');
  await ws.writeManifest(
    'fleet.yaml',
    [firmwareManifest(target), groupManifest('sims', 'sim-*')].join('---\n'),
  );
  await ws.writeManifest(
    'canary.yaml',
    rolloutManifest({ name: 'canary', group: 'sims', firmware: target.name, extra: '  priority: 1\n' }),
  );
  return Object.assign(ws, { firmware: target.name });
}

/** `otactl plan` names the revision it planned from when the manifests are in git (issue 22, point 1). */
describe('otactl plan and git revisions', () => {
  let dir: string;
  let dataDir: string;
  const workspaces: Workspace[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'otactl-plan-db-'));
    dataDir = join(dir, 'db');
    await seedPgliteDataDir(dataDir);
  });
  afterAll(async () => {
    for (const ws of workspaces) await ws.remove();
    await rm(dir, { recursive: true, force: true });
  });
  const plan = (ws: Workspace, ...flags: string[]) =>
    runMain([
      'plan',
      '--manifests',
      ws.manifestsDir,
      '--firmware-dir',
      ws.firmwareDir,
      '--db',
      dataDir,
      ...flags,
    ]);

  it('heads the plan with the commit of the work tree and names each rollout’s commit, and uncommitted changes', async () => {
    const ws = await fleetWorkspace();
    workspaces.push(ws);
    await git(ws.manifestsDir, 'init', '-q', '-b', 'main');
    await git(ws.manifestsDir, 'add', '-A');
    await git(
      ws.manifestsDir,
      'commit',
      '-q',
      '--author=Ada Lovelace <ada@example.com>',
      '-m',
      'canary: roll out 2.0.0',
    );
    const sha = await git(ws.manifestsDir, 'rev-parse', 'HEAD');
    const byAda = `${sha.slice(0, 7)} (Ada Lovelace: canary: roll out 2.0.0)`;

    const clean = await plan(ws);
    expect(clean.stderr).toBe('');
    expect(clean.stdout).toMatch(
      new RegExp(
        `^planned from manifests at ${byAda.replace(/[()]/g, '\\$&')}\nrollout canary -> 2\\.0\\.0: NoDevices, step 1 of 1\n  revision ${byAda.replace(/[()]/g, '\\$&')}\n`,
      ),
    );

    await ws.writeManifest(
      'canary.yaml',
      rolloutManifest({ name: 'canary', group: 'sims', firmware: ws.firmware, extra: '  priority: 2\n' }),
    );
    const dirty = await plan(ws);
    expect(dirty.stdout).toContain(`planned from manifests at ${byAda} with uncommitted changes\n`);
    expect(dirty.stdout).toContain(`  revision ${byAda} with uncommitted changes\n`);
    const [report] = JSON.parse((await plan(ws, '--json')).stdout);
    expect(report.revision).toEqual({
      commit: {
        sha,
        author: 'Ada Lovelace',
        email: 'ada@example.com',
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        subject: 'canary: roll out 2.0.0',
      },
      dirty: true,
    });
  });

  it('shows no revision for manifests outside git', async () => {
    const ws = await fleetWorkspace();
    workspaces.push(ws);
    const result = await plan(ws);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^rollout canary -> 2\.0\.0: NoDevices, step 1 of 1\n {2}\S/);
    expect(result.stdout).not.toContain('revision');
    expect(JSON.parse((await plan(ws, '--json')).stdout)[0].revision).toBeNull();
  });

  it("heads a running controller's plan (--server) with the revision it acts on", async () => {
    const store = await openDatabase({ kind: 'memory' });
    const app = createHttpApp({ db: store.db, plan: async () => [] });
    const server = await startHttpServer({ port: 0, host: '127.0.0.1', app });
    const url = `http://127.0.0.1:${server.port}`;
    const sha = `0123456789${'a'.repeat(30)}`;
    try {
      // before a load in git (or from an older controller): no header, as outside git
      expect((await runMain(['plan', '--server', url])).stdout).toBe('No rollouts declared.\n');
      await recordManifestsLoad(store.db, { ready: true, revision: { sha, dirty: false } });
      expect((await runMain(['plan', '--server', url])).stdout).toBe(
        'planned from manifests at 0123456\nNo rollouts declared.\n',
      );
      const ada = { author: 'Ada Lovelace', email: 'ada@example.com', time: '2026-12-04T10:00:00+01:00' };
      await recordCommits(store.db, [{ sha, ...ada, subject: 'canary: roll out 2.0.0' }]);
      const result = await runMain(['plan', '--server', url]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(
        'planned from manifests at 0123456 (Ada Lovelace: canary: roll out 2.0.0)\nNo rollouts declared.\n',
      );
    } finally {
      await server.close();
      await store.close();
    }
  });
});
