import { rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rolloutManifest } from '../helpers/rollout-fixture.js';
import { commitAll, git } from '../manifests/git-helpers.js';
import { tempDir } from '../manifests/helpers.js';
import { pgliteProcessDatabase } from './harness/databases.js';
import { invalidReport } from './harness/manifest-reports.js';
import { failOnCrash, ProcessScene } from './harness/process-scene.js';

/** Links in one merged commit grew the controller to 4.2 GB before; a few MB of slack is growth enough. */
const MAX_RSS_GROWTH = 100 * 1024 * 1024;

describe('symbolic links merged into the manifests repository', () => {
  let scene: ProcessScene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('neither crash nor grow the controller: a link outside is refused, directory links are warned about', async () => {
    scene = await ProcessScene.create({
      db: await pgliteProcessDatabase(),
      rollout: { prefix: 'ln-', version: '2.0.0', maxInFlight: 1 },
      controller: { logLevel: 'info' },
    });
    const rw = scene.rollout;
    const manifests = rw.ws.manifestsDir;
    await git(manifests, 'init', '-q', '-b', 'main');
    await commitAll(manifests, 'fleet');
    // Someone else's clone, whose commits are merged into the controller's work tree.
    const other = await tempDir('otactl-other-clone-');
    await git(other, 'clone', '-q', manifests, '.');
    const merge = async () => {
      await git(manifests, 'fetch', '-q', other, 'main');
      await git(manifests, 'merge', '-q', '--ff-only', 'FETCH_HEAD');
    };

    const controller = await scene.startController();
    const crashed = failOnCrash(controller);
    await Promise.race([controller.waitForLog((line) => line.msg === 'applying manifests'), crashed]);
    const rssBefore = await controller.rssBytes();

    await symlink('.', join(other, 'loop'));
    await symlink('..', join(other, 'up'));
    await symlink('/usr', join(other, 'usr')); // 140k entries on this machine
    await symlink('/etc/passwd', join(other, 'passwd.yaml'));
    await commitAll(other, 'links');
    await merge();
    const refused = await Promise.race([
      controller.waitForLog(
        (line) =>
          invalidReport(line) &&
          line.problems.some((p) => /passwd\.yaml:1:1: symbolic link to \/etc\/passwd, outside/.test(p)),
      ),
      crashed,
    ]);
    const problems = refused.problems as string[];
    expect(problems).toHaveLength(1);
    expect(problems.join('\n')).not.toContain('root:');

    // The link outside goes, a rollout comes: the valid manifests apply, the directory links are
    // reported as not followed.
    await rm(join(other, 'passwd.yaml'));
    await writeFile(
      join(other, 'later.yaml'),
      rolloutManifest({
        name: 'later',
        group: rw.group,
        firmware: rw.target.name,
        extra: '  priority: -1\n',
      }),
    );
    await commitAll(other, 'later, and no link outside');
    await merge();
    await Promise.race([
      controller.waitForLog(
        (line) =>
          line.msg === 'applying manifests' &&
          Array.isArray(line.rollouts) &&
          line.rollouts.includes('later'),
      ),
      crashed,
    ]);
    const warned = controller.lines
      .map((line) => line.msg ?? '')
      .filter((msg) => /symbolic link to a directory .* is not followed/.test(msg));
    expect(warned.map((msg) => /\/(loop|up|usr):1:1:/.exec(msg)?.[1]).sort()).toEqual(['loop', 'up', 'usr']);

    const rssAfter = await controller.rssBytes();
    expect(controller.alive).toBe(true);
    expect((await controller.get('/healthz')).status).toBe(200);
    if (rssBefore !== undefined && rssAfter !== undefined) {
      console.log(`manifest links: controller RSS ${rssBefore} -> ${rssAfter} bytes`);
      expect(rssAfter - rssBefore, `RSS ${rssBefore} -> ${rssAfter} bytes`).toBeLessThan(MAX_RSS_GROWTH);
    }
  }, 240_000);
});
