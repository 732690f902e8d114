import { afterEach, describe, expect, it } from 'vitest';
import { openSse } from '../api/sse-client.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  canaryOrder,
  firmwareManifest,
  groupManifest,
  rolloutManifest,
  rolloutRow,
  Scene,
  settle,
} from '../helpers/rollout-fixture.js';
import { runMain } from '../helpers/run-main.js';
import { git } from '../manifests/git-helpers.js';

const pglite = testBackends[0]!;

async function commitAs(dir: string, author: string, subject: string): Promise<string> {
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', `--author=${author}`, '-m', subject);
  return git(dir, 'rev-parse', 'HEAD');
}

function canary(firmware: string, approved: number): string {
  return rolloutManifest({
    name: 'canary',
    group: 'sims',
    firmware,
    extra: `  strategy:
    steps:
      - { percent: 50, pause: manual }
      - { percent: 100 }
    approved: ${approved}
    maxInFlight: 10
`,
  });
}

/**
 * Issue 22, point 1: who asked for an update and who approved its step, from git. Each commit's
 * author, time and subject are recorded when the manifests are applied (migration 0022) and shown
 * wherever a revision is: `status`, `history`, `plan` and the API.
 */
describe('commit authorship of a rollout in git', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('names the commit that asked for each update and the one that approved its step, in status, history, plan and the API', async () => {
    scene = await Scene.create(pglite);
    const s = scene;
    const dir = s.ws.manifestsDir;
    await git(dir, 'init', '-q', '-b', 'main');
    const target = await s.ws.addFirmware('2.0.0');
    await s.ws.writeManifest(
      'fleet.yaml',
      [firmwareManifest(target), groupManifest('sims', 'sim-*')].join('---\n'),
    );
    await commitAs(dir, 'Carol Ops <carol@example.com>', 'fleet: firmware 2.0.0, group sims');
    // Only committed manifests are applied: a change seen before its commit cannot be stamped with the one before.
    const controller = await s.startController({ requireCommitted: true });
    const fleet = await s.addFleet({ count: 4 });
    await s.devicesKnown(4);
    const order = canaryOrder(
      'canary',
      fleet.devices.map((d) => d.endpoint),
    );

    await s.ws.writeManifest('canary.yaml', canary(target.name, 0));
    const asked = await commitAs(dir, 'Ada Lovelace <ada@example.com>', 'canary: roll out 2.0.0');
    await afterPassWhen(controller, async () => (await rolloutRow(s.db, 'canary'))?.phase === 'Paused');
    await settle(controller);
    await s.ws.writeManifest('canary.yaml', canary(target.name, 1));
    const approved = await commitAs(dir, 'Bob Builder <bob@example.com>', 'canary: approve step 2');
    await afterPassWhen(controller, async () => (await rolloutRow(s.db, 'canary'))?.phase === 'Completed');

    const server = `http://127.0.0.1:${controller.httpPort}`;
    const byAda = `${asked.slice(0, 7)} (Ada Lovelace: canary: roll out 2.0.0)`;
    const byBob = `${approved.slice(0, 7)} (Bob Builder: canary: approve step 2)`;

    const status = await runMain(['status', '--server', server]);
    expect(status.stderr).toBe('');
    expect(status.stdout).toContain(`manifests: ready at ${byBob}\n`);
    expect(status.stdout).toContain(
      `canary  Completed  step 2/2  target ${target.name} (2.0.0)  revision ${byBob}\n`,
    );
    expect(status.stdout).toContain(`  step 2 approved at ${byBob}\n`);

    // The first step's devices were asked for by Ada's commit, with no approval; the second's after Bob's.
    const first = await runMain(['history', order[0]!, '--server', server]);
    expect(first.stdout).toContain(`    revision ${byAda}\n`);
    expect(first.stdout).not.toContain('approved');
    const second = await runMain(['history', order[3]!, '--server', server]);
    expect(second.stdout).toContain(`    revision ${byBob} · step approved at ${byBob}\n`);

    const json = JSON.parse((await runMain(['history', order[3]!, '--json', '--server', server])).stdout);
    const bob = {
      sha: approved,
      author: 'Bob Builder',
      email: 'bob@example.com',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/),
      subject: 'canary: approve step 2',
    };
    expect(json.updates).toEqual([
      expect.objectContaining({
        gitRevision: approved,
        commit: bob,
        approvedRevision: approved,
        approvedCommit: bob,
      }),
    ]);
    const response = await fetch(`${server}/api/v1/rollouts/canary`);
    expect(await response.json()).toMatchObject({
      gitRevision: approved,
      commit: bob,
      stepApprovedRevision: approved,
      stepApprovedCommit: bob,
    });

    // events name the commit they were written under: the step Bob's commit started, Ada's updates
    const { events } = (await (await fetch(`${server}/api/v1/events?rollout=canary`)).json()) as {
      events: { type: string; message: string; endpoint: string | null; commit: { author: string } | null }[];
    };
    const stepStarted = events.find((e) => e.type === 'StepStarted' && e.message.startsWith('step 2 '));
    expect(stepStarted?.commit).toEqual(bob);
    const firstStarted = events.find((e) => e.type === 'UpdateStarted' && e.endpoint === order[0]);
    expect(firstStarted?.commit).toMatchObject({ sha: asked, author: 'Ada Lovelace' });
    const stream = await openSse(controller.httpPort, '/api/v1/events/stream?since=0&rollout=canary');
    try {
      const streamed = await stream.next((m) => {
        const event = JSON.parse(m.data);
        return event.type === 'StepStarted' && event.message.startsWith('step 2 ');
      });
      expect(JSON.parse(streamed.data).commit).toEqual(bob);
    } finally {
      stream.close();
    }

    const plan = await runMain(['plan', '--server', server]);
    expect(plan.stdout).toContain(`rollout canary -> 2.0.0: Completed, step 2 of 2\n  revision ${byBob}\n`);
  });
});
