import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, readManifestsStatus } from '../../controller/store/index.js';
import { seedPgliteDataDir } from '../helpers/databases.js';
import {
  createWorkspace,
  rolloutManifests,
  startTestController,
  type Workspace,
} from '../helpers/rollout-fixture.js';
import { runMain } from '../helpers/run-main.js';
import { waitFor } from '../reliability/harness/wait-for.js';
import { commitAll, git } from './git-helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

/**
 * Issue 22, point 3: one check, three places. A downgrade without allowDowngrade, in the working
 * tree of a manifests repository whose HEAD (and whose running controller) has the newer version,
 * is refused by `validate`, by `plan` on the controller's database, and by the controller itself,
 * each with the same file:line:col and message.
 */
describe('validate, plan and the controller', () => {
  it('refuse the same downgrade with the same problem', async () => {
    const ws: Workspace = await createWorkspace('otactl-agree-');
    cleanup.push(() => ws.remove());
    const dataDir = path.join(await mkdtemp(path.join(tmpdir(), 'otactl-agree-db-')), 'db');
    cleanup.push(() => rm(path.dirname(dataDir), { recursive: true, force: true }));
    await seedPgliteDataDir(dataDir);
    const [older, newer] = [await ws.addFirmware('1.0.0'), await ws.addFirmware('2.0.0')];
    const manifests = (target: typeof older) =>
      rolloutManifests({
        firmware: target,
        extraFirmware: [target === older ? newer : older],
        rollout: 'fleet',
      });
    await ws.writeManifest('fleet.yaml', manifests(newer));
    await git(ws.dir, 'init', '-q', '-b', 'main');
    await commitAll(ws.dir, 'Roll the fleet to 2.0.0');

    const store = await openDatabase({ kind: 'pglite', dataDir });
    const controller = await startTestController(store, ws);
    let running = true;
    cleanup.push(async () => {
      if (running) await controller.stop();
      await store.close();
    });
    await controller.manifestsLoaded;
    await ws.writeManifest('fleet.yaml', manifests(older));
    const status = await waitFor('the controller refusing the change', async () => {
      const s = await readManifestsStatus(store.db);
      return s?.ready === false ? s : undefined;
    });
    await controller.stop();
    running = false;
    await store.close();

    const file = path.relative(process.cwd(), path.join(ws.manifestsDir, 'fleet.yaml'));
    const problem = status.problems.find((p) => p.includes('downgrade'));
    expect(problem).toMatch(
      /fleet\.yaml:\d+:\d+: downgrade from 2\.0\.0 to 1\.0\.0 without allowDowngrade: true$/,
    );
    const where = /fleet\.yaml(:\d+:\d+: .*)$/.exec(problem!)![1];

    const validated = await runMain(['validate', ws.manifestsDir, '--firmware-dir', ws.firmwareDir]);
    expect(validated.code).toBe(1);
    expect(validated.stdout.split('\n')).toContain(`${file}${where}`);

    const planned = await runMain([
      'plan',
      '--manifests',
      ws.manifestsDir,
      '--firmware-dir',
      ws.firmwareDir,
      '--db',
      dataDir,
    ]);
    expect(planned.code).toBe(2);
    expect(planned.stderr.split('\n')).toEqual([
      `${file}${where}`,
      `otactl: 1 problem in ${ws.manifestsDir}; nothing planned`,
      '',
    ]);
  });
});
