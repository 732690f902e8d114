import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, type SimDevice } from '../../controller/sim/index.js';
import { TEST_DATABASE_URL } from '../helpers/databases.js';
import type { ControllerProcess } from './harness/controller-process.js';
import { type ProcessDatabase, pgliteProcessDatabase, postgresProcessDatabase } from './harness/databases.js';
import { ProcessScene } from './harness/process-scene.js';
import { isComplete, rolloutStatus } from './harness/rollout-status.js';
import { type Random, seededRandom, seedFromEnv, sizeFromEnv } from './harness/seeded-random.js';
import { checkProcessDatabaseHistory, DOUBLE_ACTIVE_SQL } from './harness/update-history.js';
import { waitFor } from './harness/wait-for.js';

// Larger runs: OTACTL_CRASH_DEVICES=300 OTACTL_CRASH_KILLS=12 OTACTL_CRASH_SEED=7 OTACTL_CRASH_BACKENDS=both npx vitest run test/reliability/crash
// The defaults hit every kill point once (CI time); raise them for a soak.
const DEVICES = sizeFromEnv('OTACTL_CRASH_DEVICES', 60);
const KILLS = Math.max(5, sizeFromEnv('OTACTL_CRASH_KILLS', 5));
const SEED = seedFromEnv('OTACTL_CRASH_SEED', 11);
/**
 * The devices' registration lifetime. Their schedule (Updates, Register retries) runs on a manual
 * clock the test moves on at each restart, so this only needs to outlast the test: no registration
 * expires on the controller's own clock.
 */
const LIFETIME_S = 600;

/** Moments to kill at, each seen from the devices' side (the controller's database may be out of reach). */
const KILL_POINTS = [
  /** A device acknowledged the Package URI write: the controller is committing `downloading`. */
  'uri-written',
  /** A device received Execute: the controller claimed the update just before. */
  'executed',
  /** A device rebooted into new firmware and is about to register again. */
  'rebooted',
  /** A device registered again: the controller is writing the registration and reading 3/0/3. */
  're-registered',
  /** Right after a restart: restoring registrations and re-observing devices. */
  'startup',
] as const;
type KillPoint = (typeof KILL_POINTS)[number];

interface Kill {
  readonly point: KillPoint;
  /** Occurrences of the point after the last restart before the kill. */
  readonly after: number;
  /** Extra delay after the occurrence, in ms (0: synchronously in the device's event). */
  readonly delayMs: number;
}

/** Every point at least once (in seeded order), then seeded random ones. */
function killPlan(random: Random, count: number): Kill[] {
  const points: KillPoint[] = [...KILL_POINTS];
  for (let i = points.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [points[i], points[j]] = [points[j]!, points[i]!];
  }
  while (points.length < count) points.push(random.pick(KILL_POINTS));
  return points.map((point) => ({
    point,
    after: point === 'startup' ? 1 : random.int(1, 6),
    delayMs: random.next() < 0.5 ? 0 : random.int(1, 40),
  }));
}

/** Devices not on `version`, with their last update as the controller recorded it. */
/** Devices not on `version`, each described; `unread` when the controller has not read its object 3 yet. */
async function devicesBehind(
  controller: ControllerProcess,
  version: string,
): Promise<{ readonly unread: number; readonly lines: string[] }> {
  const res = await controller.get('/api/v1/devices?limit=1000');
  const body = (await res.json()) as {
    devices: {
      endpoint: string;
      firmwareVersion: string | null;
      fwState: number | null;
      lastUpdate: unknown;
    }[];
  };
  const behind = body.devices.filter((d) => d.firmwareVersion !== version);
  return {
    unread: behind.filter((d) => d.firmwareVersion === null).length,
    lines: behind.map(
      (d) => `${d.endpoint} on ${d.firmwareVersion} (state ${d.fwState}): ${JSON.stringify(d.lastUpdate)}`,
    ),
  };
}

const PGLITE = { name: 'pglite', create: pgliteProcessDatabase };
const POSTGRES = { name: 'postgres', create: postgresProcessDatabase };
/**
 * One backend per run (CI time): Postgres when there is one, else PGlite, so the suite run without
 * Postgres covers PGlite. OTACTL_CRASH_BACKENDS=both runs both.
 */
const backends: { name: string; create: () => Promise<ProcessDatabase> }[] = !TEST_DATABASE_URL
  ? [PGLITE]
  : process.env.OTACTL_CRASH_BACKENDS === 'both'
    ? [PGLITE, POSTGRES]
    : [POSTGRES];

describe.each(backends)('a rollout through repeated SIGKILLs of otactl run on $name', (backend) => {
  let scene: ProcessScene | undefined;
  let checker: pg.Client | undefined;
  let stopWatching = () => {};
  afterEach(async () => {
    stopWatching();
    await checker?.end().catch(() => {});
    await scene?.close();
    scene = undefined;
  });

  it('ends with every device on the target through exactly one successful update, nothing lost or doubled', async () => {
    const random = seededRandom(SEED);
    const plan = killPlan(random, KILLS);
    const world = await ProcessScene.create({
      db: await backend.create(),
      rollout: {
        prefix: 'crash-',
        version: '2.0.0',
        maxInFlight: 40,
        // The update timeout must outlast the longest a device that installed can take to be seen
        // again, or an installed update is failed by its timeout and the device ends on the target
        // with no successful update (seen under load with 45 s, after kills at 'rebooted' and
        // 'startup' in a row). With the fleet's timing below: a State 3 notification the killed
        // controller never acknowledges holds the reboot up to 23.25 s, a Register to a dead
        // controller gives up after 23.25 s and is sent again when the next controller listens
        // (wakeDevices), retransmitted for up to 23.25 s while it restarts: under 50 s, plus
        // reading the device and a pass.
        timeouts: { download: '30s', update: '90s' },
      },
    });
    scene = world;
    const { db, rollout: rw } = world;
    // Anything going wrong in the background (a restart failing, the controller dying on its own)
    // fails the test at once instead of leaving it waiting.
    let fail: (error: Error) => void = () => {};
    const failure = new Promise<never>((_, reject) => {
      fail = reject;
    });
    failure.catch(() => {});
    const watchCrash = (c: ControllerProcess) => {
      void c.crashed.then((exit) =>
        fail(new Error(`otactl run died on its own: ${JSON.stringify(exit)}\n${c.diagnostics()}`)),
      );
    };
    let controller = await world.startController();
    watchCrash(controller);

    // Postgres: a second connection watches the one-active-update invariant during the whole run.
    const doubleActive: string[] = [];
    let watching = true;
    let watcher: Promise<void> = Promise.resolve();
    if (db.kind === 'postgres') {
      checker = await db.client();
      const client = checker;
      watcher = (async () => {
        while (watching) {
          const rows = await client.query(DOUBLE_ACTIVE_SQL).catch(() => ({ rows: [] }));
          for (const row of rows.rows) doubleActive.push(JSON.stringify(row));
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
    }

    // The devices' own clock. A device notices a restart that lost its registration only at its next
    // Update, and retries a Register that failed only after a delay: once the new process listens,
    // the test moves the clock on by a lifetime, so every device sends its Update (or Register) at
    // once instead of when its wall-clock schedule says.
    const clock = new ManualClock();
    let restarting = false;
    let wakes = 0;
    const wakeDevices = () => {
      wakes++;
      clock.advance(LIFETIME_S * 1000);
    };

    const rebootedDevices = new Set<string>();
    const counts = new Map<KillPoint, number>();
    let armed: Kill | undefined = plan[0];
    let killsDone = 0;
    let killing: Promise<void> = Promise.resolve();
    const log: string[] = [];
    const began = performance.now();
    const elapsed = () => `${((performance.now() - began) / 1000).toFixed(1)} s`;
    const occur = (point: KillPoint) => {
      const kill = armed;
      if (kill === undefined || kill.point !== point) return;
      const seen = (counts.get(point) ?? 0) + 1;
      counts.set(point, seen);
      if (seen < kill.after) return;
      armed = undefined;
      const victim = controller!;
      const doKill = () => {
        restarting = true;
        victim.kill('SIGKILL');
      };
      if (kill.delayMs === 0) doKill();
      else setTimeout(doKill, kill.delayMs);
      killing = (async () => {
        const exit = await victim.exited;
        killsDone++;
        log.push(
          `${elapsed()}: kill ${killsDone} at ${point} #${seen} (+${kill.delayMs} ms): ${JSON.stringify(exit)}`,
        );
        counts.clear();
        const next = plan[killsDone];
        controller = await world.startController();
        watchCrash(controller);
        restarting = false;
        log.push(`${elapsed()}: restarted`);
        armed = next;
        if (next?.point === 'startup') occur('startup');
        // Listening again (and restoring registrations, or being killed at it): every device checks in.
        wakeDevices();
      })().catch((error: Error) => fail(error));
    };

    const fleet = await world.addFleet({
      count: DEVICES,
      prefix: 'crash-',
      staggerMs: 5,
      seed: String(SEED),
      // A registration answered but lost in a crash is only noticed at the device's next Update
      // (see registration-durability.test.ts): the test brings that Update forward (wakeDevices).
      lifetime: LIFETIME_S,
      clock,
      // Retransmissions span a restart, and come often enough that a device hears the restarted
      // controller within about twice the time it was down; a device waiting on unacknowledged
      // notifications before it reboots gives up within about 23 s, well inside the update timeout.
      timing: { ackTimeoutMs: 500, ackRandomFactor: 1.5, maxRetransmit: 4, responseTimeoutMs: 10_000 },
    });
    // A Register that failed while a controller listens (no answer in time, an error) is retried on
    // the device's clock: now. One that failed while none did is retried by the restart's wake.
    let wakeQueued = false;
    let wakeOnFailure = true;
    fleet.on('registration-failed', () => {
      if (restarting || wakeQueued || !wakeOnFailure) return;
      wakeQueued = true;
      // After the device has set its retry timer (the event comes just before).
      setImmediate(() => {
        wakeQueued = false;
        if (!restarting && wakeOnFailure) wakeDevices();
      });
    });
    const onTarget = new Promise<void>((resolve) => {
      const check = (device: SimDevice) => {
        if (device.firmwareVersion === rw!.target.version) rebootedDevices.add(device.endpoint);
        if (rebootedDevices.size === DEVICES) resolve();
      };
      fleet!.on('state', (e, device) => {
        if (e.state === 1) occur('uri-written');
        if (e.state === 3) occur('executed');
        check(device);
      });
      fleet!.on('rebooted', (_e, device) => {
        occur('rebooted');
        check(device);
      });
      fleet!.on('registered', (_e, device) => {
        if (device.firmwareVersion === rw!.target.version) occur('re-registered');
      });
    });
    await fleet.started;

    // A rollout that settles with devices left behind (failed for good) will never bring them to the
    // target: fail at once with what the controller recorded for them.
    let settledWatch = true;
    stopWatching = () => {
      settledWatch = false;
      watching = false;
    };
    const settled = (async () => {
      while (settledWatch) {
        await new Promise((r) => setTimeout(r, 1000));
        const current = controller;
        if (!settledWatch || !current?.alive) continue;
        const view = await rolloutStatus(current, rw!.rollout).catch(() => undefined);
        // The status is what the last pass counted, possibly a pass of the controller before the
        // last restart (the API answers before the new reconciler's first pass), so it can lag
        // the device list read below: a device that registered or was read after that pass is
        // in the list but not in the counts. Only a pass that counted every device as a member
        // and still settled has left some behind; a device that was no member yet is updated
        // once it is one (the final wait catches one that never is).
        if (
          view &&
          view.phase !== 'Progressing' &&
          view.counts.selected === DEVICES &&
          view.counts.upToDate < DEVICES
        ) {
          const stuck = await devicesBehind(current, rw!.target.version).catch((e: Error) => ({
            unread: 0,
            lines: [e.message],
          }));
          // A device whose object 3 a killed controller never read is no member of the group yet
          // (its model is unknown): the rollout counts it once it is read, at the latest at its next
          // Update. Only devices known and still behind are left behind for good.
          if (stuck.unread > 0) continue;
          // Read after the status: a device read (and found on the target) in between is behind no more.
          if (stuck.lines.length === 0) continue;
          fail(
            new Error(
              `rollout ${view.phase} with ${view.counts.upToDate} of ${DEVICES} up to date (${JSON.stringify(view.counts)}):\n${stuck.lines.join('\n')}\n${log.join('\n')}`,
            ),
          );
          return;
        }
      }
    })();

    await Promise.race([onTarget, failure]);
    // Kills still planned but their moment passed: the devices are done, so kill at once.
    while (killsDone < KILLS) {
      await Promise.race([killing, failure]);
      if (killsDone >= KILLS) break;
      armed = { point: 'startup', after: 1, delayMs: random.int(0, 200) };
      occur('startup');
      await Promise.race([killing, failure]);
    }
    await Promise.race([killing, failure]);

    const done = await Promise.race([
      waitFor(
        'the rollout to complete after the last restart',
        async () => {
          const view = await rolloutStatus(controller!, rw!.rollout);
          return isComplete(view, DEVICES) ? view : undefined;
        },
        { intervalMs: 250, timeoutMs: 120_000 },
      ),
      failure,
    ]).catch((error: Error) => {
      throw new Error(`${error.message}\n${log.join('\n')}\n${controller!.diagnostics()}`);
    });
    expect(done.counts.upToDate).toBe(DEVICES);
    log.push(`${elapsed()}: complete after ${wakes} wakes`);
    settledWatch = false;
    await settled;
    watching = false;
    await watcher;
    // De-register while a controller still answers (a stopped one would leave every DELETE retrying).
    wakeOnFailure = false;
    await fleet.stop();
    const summary = fleet.summary();

    // PGlite: the data directory belongs to the controller; stop it to read the history.
    if (db.kind === 'pglite') await controller.stop();
    const history = await checkProcessDatabaseHistory(db, {
      endpoints: fleet.devices.map((d) => d.endpoint),
      targetVersion: rw.target.version,
      rollout: rw.rollout,
    });
    expect(history.violations, log.join('\n')).toEqual([]);
    expect(killsDone).toBeGreaterThanOrEqual(KILLS);
    expect(doubleActive).toEqual([]);
    const killedAt = log.flatMap((l) => /: kill \d+ at (\S+)/.exec(l)?.[1] ?? []);
    expect(killedAt).toHaveLength(killsDone);
    expect(new Set(killedAt)).toEqual(new Set(KILL_POINTS));
    expect(summary.versions).toEqual({ [rw.target.version]: DEVICES });
  }, 300_000);
});
