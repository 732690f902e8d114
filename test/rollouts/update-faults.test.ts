import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import { driveClock, RecordingClock } from '../helpers/recording-clock.js';
import {
  afterPassWhen,
  countWhere,
  createTestClock,
  fleetEvent,
  Scene,
  settle,
  updatesOf,
} from '../helpers/rollout-fixture.js';

const pglite = testBackends[0]!;

/** One rollout, no retries, every device started at once, a threshold that never trips. */
const NO_RETRIES = `  strategy:
    maxInFlight: 50
    failureThreshold: { percent: 100, minUpdates: 1000 }
  retries: { max: 0 }
`;

const FAULTS: readonly { fault: string; endpoint: string }[] = [
  { fault: 'download-fails', endpoint: 'sim-000001' },
  { fault: 'no-storage', endpoint: 'sim-000002' },
  { fault: 'integrity', endpoint: 'sim-000003' },
  { fault: 'unsupported-package', endpoint: 'sim-000004' },
  { fault: 'unsupported-protocol', endpoint: 'sim-000005' },
  { fault: 'update-fails', endpoint: 'sim-000006' },
  { fault: 'fake-success', endpoint: 'sim-000007' },
  { fault: 'duplicate-notifications', endpoint: 'sim-000008' },
  { fault: 'reorder-notifications', endpoint: 'sim-000009' },
  { fault: 'invalid-uri', endpoint: 'sim-000010' },
  { fault: 'out-of-ram', endpoint: 'sim-000011' },
];

describe('the update of one device, under every simulator fault', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('ends every fault in the right record (phase, state, result, failure reason, retryable)', async () => {
    scene = await Scene.create(pglite);
    const { controller } = await scene.startRollout({ rollout: 'faults', spec: NO_RETRIES });
    await scene.addFleet({
      count: 12,
      faults: FAULTS.map((f) => `${f.fault}=@${f.endpoint}`).join(','),
    });
    const db = scene.db;
    await afterPassWhen(controller, async () => {
      const finished = await countWhere(db, 'firmware_updates', sql<boolean>`finished_at is not null`);
      const active = await countWhere(db, 'firmware_updates', sql<boolean>`finished_at is null`);
      return finished === 12 && active === 0;
    });

    const records = Object.fromEntries(
      (await updatesOf(db)).map((u) => [
        u.endpoint,
        {
          phase: u.phase,
          state: u.state,
          result: u.result,
          failure_reason: u.failure_reason,
          retryable: u.retryable,
        },
      ]),
    );
    const failed = (result: number, failure_reason: string, retryable: boolean) => ({
      phase: 'failed',
      state: 0,
      result,
      failure_reason,
      retryable,
    });
    const succeeded = { phase: 'succeeded', state: 0, result: 1, failure_reason: null, retryable: null };
    expect(records).toEqual({
      'sim-000001': failed(4, 'result 4: connection lost during download', true),
      'sim-000002': failed(2, 'result 2: not enough flash', false),
      'sim-000003': failed(5, 'result 5: integrity check failure', true),
      'sim-000004': failed(6, 'result 6: unsupported package type', false),
      'sim-000005': failed(9, 'result 9: unsupported protocol', false),
      'sim-000006': failed(8, 'result 8: firmware update failed; still on 1.0.0', false),
      'sim-000007': failed(1, 'reported success, still on 1.0.0', false),
      'sim-000008': succeeded,
      'sim-000009': succeeded,
      'sim-000010': failed(7, 'result 7: invalid URI', false),
      'sim-000011': failed(3, 'result 3: out of RAM', true),
      'sim-000012': succeeded,
    });

    // Duplicated and reordered notifications never execute twice: one UpdateExecuted per update.
    const executed = await sql<{ endpoint: string; n: number }>`
      select endpoint, count(*) as n from events where type = 'UpdateExecuted' group by endpoint order by endpoint`.execute(
      db,
    );
    expect(Object.fromEntries(executed.rows.map((r) => [r.endpoint, Number(r.n)]))).toEqual({
      'sim-000006': 1,
      'sim-000007': 1,
      'sim-000008': 1,
      'sim-000009': 1,
      'sim-000012': 1,
    });
    // Only the devices on the target say so; the failed ones still run 1.0.0.
    const versions = await db.selectFrom('devices').select(['endpoint', 'firmware_version']).execute();
    for (const d of versions) {
      expect(d.firmware_version).toBe(
        ['sim-000008', 'sim-000009', 'sim-000012'].includes(d.endpoint) ? '2.0.0' : '1.0.0',
      );
    }
    // Every failure is an event with its codes, the rollout and the endpoint.
    const failures = await db
      .selectFrom('events')
      .select(['endpoint', 'rollout', 'details'])
      .where('type', '=', 'UpdateFailed')
      .execute();
    expect(failures).toHaveLength(9);
    // retries.max 0: even a transient failure is final, and its event does not promise a retry.
    const transient = await db
      .selectFrom('events')
      .select('message')
      .where('type', '=', 'UpdateFailed')
      .where('endpoint', '=', 'sim-000001')
      .executeTakeFirstOrThrow();
    expect(transient.message).toBe('failed: result 4: connection lost during download');
    expect(failures.find((e) => e.endpoint === 'sim-000002')).toMatchObject({
      rollout: 'faults',
      details: { result: 2, reason: 'result 2: not enough flash', retryable: false },
    });
  });

  it('polls a silent download, then ends it by the download timeout and resets the device', async () => {
    scene = await Scene.create(pglite);
    const clock = createTestClock();
    // The Rollout is there before the device registers. Device sync stores object 3 first and the
    // Idle it observes in 5/0/3 afterwards: the device is not started in between, so the State the
    // database holds once the silent download runs is that Idle, not null.
    const { controller } = await scene.startRollout({
      rollout: 'silent',
      spec: `${NO_RETRIES}  timeouts: { download: 10m, update: 10m }\n`,
      controller: { clock: clock.now },
    });
    const fleet = await scene.addFleet({ count: 1, faults: 'silent-download=@sim-000001' });
    const db = scene.db;
    const device = fleet.device('sim-000001')!;
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'downloading');
    expect(device.state).toBe(1);
    // The device sent no notification: the database still holds the Idle it reported when observed.
    const before = await db.selectFrom('devices').select('fw_state').executeTakeFirstOrThrow();
    expect(before.fw_state).toBe(0);

    // Quiet for longer than pollQuietMs (5 s in tests): the controller reads 5/0/3 itself.
    clock.advance(6_000);
    controller.reconciler.trigger();
    await afterPassWhen(controller, async () => {
      const row = await db.selectFrom('devices').select('fw_state').executeTakeFirstOrThrow();
      return row.fw_state === 1;
    });
    expect((await updatesOf(db))[0]?.phase).toBe('downloading');

    clock.advance(10 * 60_000);
    controller.reconciler.trigger();
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'failed');
    expect(await updatesOf(db)).toMatchObject([
      { phase: 'failed', state: 0, result: 0, failure_reason: 'timeout while downloading', retryable: true },
    ]);
    // The controller withdrew the download: an empty 5/0/1 put the device back to Idle.
    await afterPassWhen(controller, () => device.state === 0);
    expect(device.result).toBe(0);
  });

  it('ends an update whose device never registers again by the update timeout', async () => {
    scene = await Scene.create(pglite);
    const clock = createTestClock();
    const { controller } = await scene.startRollout({
      rollout: 'gone',
      spec: `${NO_RETRIES}  timeouts: { download: 10m, update: 10m }\n`,
      controller: { clock: clock.now },
    });
    const fleet = await scene.addFleet({ count: 1, faults: 'no-reregister=@sim-000001' });
    await fleetEvent(fleet, (e) => e.kind === 'halted');
    const db = scene.db;
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'updating');
    await settle(controller, 1);
    expect((await updatesOf(db))[0]?.phase).toBe('updating');

    clock.advance(10 * 60_000 + 1_000);
    controller.reconciler.trigger();
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'failed');
    expect(await updatesOf(db)).toMatchObject([
      {
        phase: 'failed',
        state: 0,
        result: 0,
        failure_reason: 'timeout waiting for the device to report the new firmware',
        retryable: true,
      },
    ]);
  });

  it('retries transient failures up to retries.max after the backoff, and permanent ones never', async () => {
    scene = await Scene.create(pglite);
    const clock = createTestClock();
    const { controller } = await scene.startRollout({
      rollout: 'retry',
      spec: `  strategy:
    failureThreshold: { percent: 100, minUpdates: 1000 }
  retries: { max: 2, backoff: 10m }
`,
      controller: { clock: clock.now },
    });
    await scene.addFleet({ count: 3, faults: 'download-fails=@sim-000001,no-storage=@sim-000002' });
    const db = scene.db;
    const attemptsOf = async (endpoint: string) => (await updatesOf(db, endpoint)).length;
    const finishedOf = async (endpoint: string) =>
      (await updatesOf(db, endpoint)).filter((u) => u.finished_at !== null).length;

    for (let attempt = 1; attempt <= 3; attempt++) {
      await afterPassWhen(controller, async () => (await finishedOf('sim-000001')) === attempt);
      // Within the backoff nothing starts again.
      await settle(controller, 3);
      expect(await attemptsOf('sim-000001')).toBe(attempt);
      clock.advance(10 * 60_000 + 1_000);
      controller.reconciler.trigger();
    }
    // retries.max 2: three attempts, then the device counts as failed and no fourth starts.
    await settle(controller, 3);
    const transient = await updatesOf(db, 'sim-000001');
    expect(transient.map((u) => [u.attempt, u.phase, u.result, u.retryable])).toEqual([
      [1, 'failed', 4, true],
      [2, 'failed', 4, true],
      [3, 'failed', 4, true],
    ]);
    const messages = await db
      .selectFrom('events')
      .select('message')
      .where('type', '=', 'UpdateFailed')
      .where('endpoint', '=', 'sim-000001')
      .orderBy('id')
      .execute();
    expect(messages.map((m) => m.message.endsWith('(will retry)'))).toEqual([true, true, false]);
    const permanent = await updatesOf(db, 'sim-000002');
    expect(permanent.map((u) => [u.attempt, u.phase, u.result, u.retryable])).toEqual([
      [1, 'failed', 2, false],
    ]);
    expect((await updatesOf(db, 'sim-000003')).map((u) => u.phase)).toEqual(['succeeded']);
    await afterPassWhen(controller, async () => {
      const counts = (await db.selectFrom('rollouts').select('counts').executeTakeFirstOrThrow()).counts;
      return (counts as { failed?: number }).failed === 2;
    });
    const row = await db.selectFrom('rollouts').select(['phase', 'counts']).executeTakeFirstOrThrow();
    expect(row.counts).toMatchObject({
      failed: 2,
      succeeded: 1,
      waitingForRetry: 0,
      failedByReason: { 'result 4: connection lost during download': 1, 'result 2: not enough flash': 1 },
    });
  });

  it('keeps a slow-download device Downloading until size / bandwidth has passed on its clock, then updates it', async () => {
    scene = await Scene.create(pglite);
    const { target, controller } = await scene.startRollout({ rollout: 'slow', spec: NO_RETRIES });
    // The device's clock moves only to the waits its bandwidth limit asks for.
    const clock = new RecordingClock();
    const fleet = await scene.addFleet({ count: 1, faults: 'slow-download=@sim-000001:500', clock });
    const db = scene.db;
    const device = fleet.device('sim-000001')!;
    const downloadedAt = fleetEvent(fleet, (e) => e.kind === 'state' && e.state === 2).then(() =>
      clock.now(),
    );
    const { result, waits } = await driveClock(clock, downloadedAt, async () => {
      // While the limit holds the transfer back, the device and the controller both say Downloading.
      expect(device.state).toBe(1);
      await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'downloading');
      await settle(controller, 1);
      expect(device.state).toBe(1);
      expect((await updatesOf(db))[0]?.phase).toBe('downloading');
    });
    expect(waits.length).toBeGreaterThan(0);
    // Downloaded exactly when the whole image was due at 500 B/s, not a tick before.
    expect(result).toBe((target.size / 500) * 1000);
    await afterPassWhen(controller, async () => (await updatesOf(db))[0]?.phase === 'succeeded');
    expect(device.firmwareVersion).toBe('2.0.0');
  });
});
