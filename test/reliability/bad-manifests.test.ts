import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { firmwareManifest, rolloutManifest } from '../helpers/rollout-fixture.js';
import type { ControllerProcess } from './harness/controller-process.js';
import { pgliteProcessDatabase } from './harness/databases.js';
import { invalidReport } from './harness/manifest-reports.js';
import { failOnCrash, ProcessScene } from './harness/process-scene.js';
import { isComplete, rolloutStatus } from './harness/rollout-status.js';
import type { RolloutWorkspace } from './harness/rollout-workspace.js';
import { seededRandom } from './harness/seeded-random.js';
import { waitFor } from './harness/wait-for.js';

const DEVICES = 6;

interface BadInput {
  readonly name: string;
  /** Writes the broken input into the manifests directory; returns the files to remove afterwards. */
  write(rw: RolloutWorkspace): Promise<string[]>;
  /** A piece of the problem text the operator must see. */
  readonly expect: RegExp;
}

const ROLLOUT_HEAD = 'apiVersion: otactl/v1alpha1\nkind: Rollout\nmetadata:\n  name: extra\n';

async function put(rw: RolloutWorkspace, name: string, content: string | Buffer): Promise<string[]> {
  const path = join(rw.ws.manifestsDir, name);
  await writeFile(path, content);
  return [path];
}

const BAD_INPUTS: readonly BadInput[] = [
  {
    name: 'invalid YAML',
    write: (rw) => put(rw, 'broken.yaml', `${ROLLOUT_HEAD}spec: [group: fleet,\n  firmware: {x\n`),
    expect: /broken\.yaml:\d+:\d+: .*/,
  },
  {
    name: 'a wrong type',
    write: (rw) =>
      put(rw, 'types.yaml', `${ROLLOUT_HEAD}spec:\n  group: fleet\n  firmware: x\n  suspend: "yes please"\n`),
    expect: /types\.yaml:\d+:\d+: .*suspend.*boolean|types\.yaml:\d+:\d+: .*boolean/,
  },
  {
    name: 'an unknown kind',
    write: (rw) =>
      put(rw, 'kind.yaml', 'apiVersion: otactl/v1alpha1\nkind: Deployment\nmetadata:\n  name: x\nspec: {}\n'),
    expect: /kind\.yaml:\d+:\d+: .*Deployment/,
  },
  {
    name: 'an unknown field',
    write: (rw) =>
      put(
        rw,
        'field.yaml',
        `${ROLLOUT_HEAD}spec:\n  group: fleet\n  firmware: sim1-2.0.0\n  priority: 5\n  maxInFlihgt: 3\n`,
      ),
    expect: /field\.yaml:\d+:\d+: .*maxInFlihgt/,
  },
  {
    name: 'a missing reference',
    write: (rw) =>
      put(rw, 'ref.yaml', rolloutManifest({ name: 'extra', group: 'no-such-group', firmware: 'sim1-2.0.0' })),
    expect: /ref\.yaml:\d+:\d+: DeviceGroup "no-such-group" not found/,
  },
  {
    name: 'a sha256 mismatch',
    write: async (rw) => {
      const fw = await rw.ws.addFirmware('3.0.0');
      return put(rw, 'sha.yaml', firmwareManifest({ ...fw, sha256: '0'.repeat(64) }));
    },
    expect: /sha\.yaml:\d+:\d+: sha256 mismatch: sim1-3\.0\.0\.bin has [0-9a-f]{64}/,
  },
  {
    name: 'conflicting rollouts',
    write: (rw) =>
      put(rw, 'conflict.yaml', rolloutManifest({ name: 'rival', group: rw.group, firmware: rw.target.name })),
    expect: /targets the same DeviceGroup at equal priority/,
  },
  {
    name: 'binary garbage',
    write: (rw) => put(rw, 'garbage.yaml', Buffer.concat([seededRandom(9).bytes(4096), Buffer.from([0])])),
    expect: /garbage\.yaml:\d+:\d+: (binary content|not valid UTF-8)/,
  },
  {
    name: 'a 50 MB file',
    write: async (rw) => {
      const path = join(rw.ws.manifestsDir, 'huge.yaml');
      const handle = await open(path, 'w');
      const line = Buffer.from(`# ${'x'.repeat(1021)}\n`);
      for (let i = 0; i < 50 * 1024; i++) await handle.write(line);
      await handle.close();
      return [path];
    },
    expect: /huge\.yaml:\d+:\d+: file too large/,
  },
  {
    name: 'deep nesting',
    write: (rw) =>
      put(rw, 'deep.yaml', `${ROLLOUT_HEAD}spec:\n  x: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`),
    expect: /deep\.yaml:\d+:\d+: nesting deeper than/,
  },
];

interface EventView {
  readonly id: number;
  readonly type: string;
  readonly details: { problems?: string[] };
}

/** Every event after `since`, page by page. */
async function eventsSince(controller: ControllerProcess, since: number): Promise<EventView[]> {
  const all: EventView[] = [];
  let next = since;
  for (;;) {
    const res = await controller.get(`/api/v1/events?limit=1000&since=${next}`);
    const page = (await res.json()) as { events: EventView[]; lastId: number };
    all.push(...page.events);
    if (page.events.length < 1000) return all;
    next = page.lastId;
  }
}

describe('broken manifests given to a running controller', () => {
  let scene: ProcessScene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('each give a clear error while the last valid state keeps the rollout going', async () => {
    scene = await ProcessScene.create({
      db: await pgliteProcessDatabase(),
      rollout: { prefix: 'mf-', version: '2.0.0', maxInFlight: 1 },
      controller: { logLevel: 'info' },
    });
    const rw = scene.rollout;
    const running = await scene.startController();
    const crashed = failOnCrash(running);
    // Slow downloads, one device at a time: the rollout is still running while the inputs arrive.
    const fleet = await scene.addFleet({ count: DEVICES, prefix: 'mf-', faults: 'slow-download=1:1500' });
    const before = await waitFor('the rollout to start', async () => {
      const view = await rolloutStatus(running, rw!.rollout);
      return view?.phase === 'Progressing' ? view : undefined;
    });

    const seen: string[] = [];
    for (const input of BAD_INPUTS) {
      const written = await input.write(rw);
      const report = await Promise.race([
        running.waitForLog((line) => invalidReport(line) && line.problems.some((p) => input.expect.test(p))),
        crashed,
      ]);
      expect(report.level, input.name).toBe(50);
      // The same problem is in the audit log, for the dashboard and `otactl history`.
      const event = await waitFor(`a ManifestsInvalid event for ${input.name}`, async () =>
        (await eventsSince(running, 0)).find(
          (e) =>
            e.type === 'ManifestsInvalid' && (e.details.problems ?? []).some((p) => input.expect.test(p)),
        ),
      );
      expect(event.details.problems?.length, input.name).toBeGreaterThan(0);
      const during = await rolloutStatus(running, rw.rollout);
      expect(during?.generation, input.name).toBe(before.generation);
      expect(['Progressing', 'Completed'], input.name).toContain(during?.phase);
      for (const file of written) await rm(file, { force: true });
      seen.push(input.name);
    }
    expect(seen).toHaveLength(BAD_INPUTS.length);

    // A file that disappears while it is being written: a half-written Rollout, gone before it
    // was complete. Whatever the watcher saw, the valid state is the one that stays.
    const half = join(rw.ws.manifestsDir, 'half.yaml');
    const handle = await open(half, 'w');
    await handle.write(`${ROLLOUT_HEAD}spec:\n  group: fle`);
    await rm(half);
    await handle.close();

    // The watcher still works: a valid change is applied.
    await rw.ws.writeManifest(
      'later.yaml',
      rolloutManifest({
        name: 'later',
        group: rw.group,
        firmware: rw.target.name,
        extra: '  priority: -1\n',
      }),
    );
    await Promise.race([
      running.waitForLog(
        (line) =>
          line.msg === 'applying manifests' &&
          Array.isArray(line.rollouts) &&
          line.rollouts.includes('later'),
      ),
      crashed,
    ]);

    await Promise.race([
      waitFor(
        'the rollout to complete',
        async () => (isComplete(await rolloutStatus(running, rw!.rollout), DEVICES) ? true : undefined),
        { intervalMs: 250, timeoutMs: 120_000 },
      ),
      crashed,
    ]);
    const after = await rolloutStatus(running, rw.rollout);
    expect(after?.generation).toBe(before.generation);
    expect(fleet.summary().versions).toEqual({ '2.0.0': DEVICES });
  }, 240_000);
});
