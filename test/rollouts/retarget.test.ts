import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  countWhere,
  type FirmwareFixture,
  firmwareManifest,
  groupManifest,
  rolloutRow,
  Scene,
  settle,
} from '../helpers/rollout-fixture.js';
import { commitAll, git } from '../manifests/git-helpers.js';

/**
 * A target change is a new rollout of the same name (issue 16): a Completed rollout pointed at a
 * new firmware, forward, back (allowDowngrade) or by a git revert, updates exactly its first
 * step's share and then waits for a fresh approval, which a commit raising `approved` gives.
 */

const DEVICES = 20;
/** ceil(10% of 20). */
const FIRST_SHARE = 2;

function manifests(firmware: readonly FirmwareFixture[], target: FirmwareFixture, approved: number): string {
  // Every firmware is listed, always in the same order: a commit changes only the Rollout's lines.
  return [
    ...firmware.map(firmwareManifest),
    groupManifest('sims', 'sim-*'),
    `apiVersion: otactl/v1alpha1
kind: Rollout
metadata:
  name: canary
spec:
  group: sims
  firmware: ${target.name}
  allowDowngrade: true
  strategy:
    steps:
      - { percent: 10, pause: manual }
      - { percent: 100 }
    maxInFlight: 20
    failureThreshold: { percent: 100, minUpdates: 1000 }
    approved: ${approved}
`,
  ].join('---\n');
}

describe.each(testBackends)('a rollout whose target changes, on $name', (backend) => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('restarts at step 1 for a new version, a downgrade and a git revert: the first share, then approval', async () => {
    scene = await Scene.create(backend);
    const s = scene;
    const dir = s.ws.manifestsDir;
    const v200 = await s.ws.addFirmware('2.0.0');
    const v210 = await s.ws.addFirmware('2.1.0');
    const v150 = await s.ws.addFirmware('1.5.0');
    const all = [v200, v210, v150];
    await git(dir, 'init', '-q', '-b', 'main');
    await s.ws.writeManifest(
      'fleet.yaml',
      [...all.map(firmwareManifest), groupManifest('sims', 'sim-*')].join('---\n'),
    );
    await commitAll(dir, 'firmware and group');
    // Timed passes every 50 ms, not the fixture's 200 ms: each first share is checked after 3
    // passes (settle), and those passes, not the devices, were 2.4 s of the test.
    const controller = await s.startController({ reconcile: { intervalMs: 50, pollQuietMs: 5_000 } });
    await s.addFleet({ count: DEVICES });
    await s.devicesKnown(DEVICES);

    const row = () => rolloutRow(s.db, 'canary');
    const updatesTo = (version: string, sinceId: number) =>
      countWhere(s.db, 'firmware_updates', sql<boolean>`target_version = ${version} and id > ${sinceId}`);
    const highestUpdateId = async () =>
      Number(
        (await sql<{ id: string | null }>`select max(id) as id from firmware_updates`.execute(s.db)).rows[0]
          ?.id ?? 0,
      );
    const commit = async (target: FirmwareFixture, approved: number, subject: string) => {
      await s.ws.writeManifest('fleet.yaml', manifests(all, target, approved));
      return commitAll(dir, subject);
    };
    /** Waits until the rollout is complete on `version`, with every device on it. */
    const completedOn = async (version: string) => {
      await afterPassWhen(controller, async () => {
        const r = await row();
        return r?.phase === 'Completed' && r.target_version === version;
      });
      expect(await countWhere(s.db, 'devices', sql<boolean>`firmware_version = ${version}`)).toBe(DEVICES);
    };
    /** Waits for the manual pause of the first step of `version`, and checks only its share moved. */
    const pausedAfterFirstShare = async (version: string, sinceId: number, approvedNeeded: number) => {
      await afterPassWhen(controller, async () => {
        const r = await row();
        return r?.phase === 'Paused' && r.target_version === version;
      });
      await settle(controller, 3);
      expect(await updatesTo(version, sinceId)).toBe(FIRST_SHARE);
      expect(await countWhere(s.db, 'devices', sql<boolean>`firmware_version = ${version}`)).toBe(
        FIRST_SHARE,
      );
      const paused = await row();
      expect(paused).toMatchObject({ phase: 'Paused', current_step: 0 });
      expect(paused?.paused_reason).toBe(
        `waiting for approval of step 2: raise spec.strategy.approved to ${approvedNeeded}`,
      );
    };
    const targetChanges = async () =>
      (
        await s.db
          .selectFrom('events')
          .select(['message', 'git_revision'])
          .where('type', '=', 'TargetChanged')
          .orderBy('id')
          .execute()
      ).map((e) => e.message);
    /** The event names the commit, unless the controller saw the change before it was committed. */
    const changeMessage = (from: FirmwareFixture, to: FirmwareFixture, sha: string) =>
      new RegExp(
        `^target changed from ${from.name}@${from.version} to ${to.name}@${to.version} at (revision ${sha}|an uncommitted revision); strategy restarted$`,
      );

    // The first target: step 1, approval, the rest.
    await commit(v200, 0, 'roll out 2.0.0');
    await pausedAfterFirstShare('2.0.0', 0, 1);
    await commit(v200, 1, 'approve 2.0.0');
    await completedOn('2.0.0');

    // Forward: approved stays 1, which approved the old target's pause only.
    let since = await highestUpdateId();
    const forward = await commit(v210, 1, 'roll out 2.1.0');
    await pausedAfterFirstShare('2.1.0', since, 2);
    await commit(v210, 2, 'approve 2.1.0');
    await completedOn('2.1.0');

    // A downgrade.
    since = await highestUpdateId();
    const down = await commit(v150, 2, 'roll back to 1.5.0');
    await pausedAfterFirstShare('1.5.0', since, 3);
    await commit(v150, 3, 'approve 1.5.0');
    await completedOn('1.5.0');

    // A git revert of the downgrade: 2.1.0 again, a new rollout: its earlier updates do not count.
    since = await highestUpdateId();
    await git(dir, 'revert', '--no-edit', down);
    const revert = await git(dir, 'rev-parse', 'HEAD');
    await pausedAfterFirstShare('2.1.0', since, 4);
    await commit(v210, 4, 'approve 2.1.0 again');
    await completedOn('2.1.0');

    const changes = await targetChanges();
    expect(changes).toHaveLength(3);
    expect(changes[0]).toMatch(changeMessage(v200, v210, forward));
    expect(changes[1]).toMatch(changeMessage(v210, v150, down));
    expect(changes[2]).toMatch(changeMessage(v150, v210, revert));
    // Every device took each target once: no step skipped, none repeated.
    const perDevice = await sql<{ n: number }>`
      select count(*) filter (where phase = 'succeeded') as n from firmware_updates group by endpoint`.execute(
      s.db,
    );
    expect(perDevice.rows.map((r) => Number(r.n))).toEqual(Array(DEVICES).fill(4));
    // "attempt N" counts attempts of this target in this episode: taking 2.1.0 again after the
    // revert is every device's first attempt, not its second.
    const attempts = await sql<{ attempt: number }>`select distinct attempt from firmware_updates`.execute(
      s.db,
    );
    expect(attempts.rows.map((r) => Number(r.attempt))).toEqual([1]);
  }, 480_000);
});
