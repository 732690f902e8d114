import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { type Fleet, ManualClock, startFleet } from '../../controller/sim/index.js';
import { TEST_DATABASE_URL } from '../helpers/databases.js';
import { ControllerProcess } from '../reliability/harness/controller-process.js';
import { type ProcessDatabase, postgresProcessDatabase } from '../reliability/harness/databases.js';
import { freeTcpPort, freeUdpPort } from '../reliability/harness/free-port.js';
import { failOnCrash } from '../reliability/harness/process-scene.js';
import { type RolloutWorkspace, rolloutWorkspace } from '../reliability/harness/rollout-workspace.js';
import { sizeFromEnv } from '../reliability/harness/seeded-random.js';
import { checkProcessDatabaseHistory, DOUBLE_ACTIVE_SQL } from '../reliability/harness/update-history.js';
import { waitFor } from '../reliability/harness/wait-for.js';

const REPLICAS = 3;
// The 300 devices: OTACTL_REPLICA_DEVICES=300 (CI runs 150, the same properties in less time).
const DEVICES = sizeFromEnv('OTACTL_REPLICA_DEVICES', 150);
const MAX_IN_FLIGHT = 20;
/**
 * The devices' lifetime. Their Updates run on a manual clock the test moves on after each kill,
 * so every device checks in at once (and those of the killed replica fall over); the controllers'
 * real clocks never see a registration expire.
 */
const LIFETIME_S = 600;
/** A request to a dead replica gives up after 2.1 to 3.15 s (three transmissions). */
const DEVICE_TIMING = {
  ackTimeoutMs: 300,
  ackRandomFactor: 1.5,
  maxRetransmit: 2,
  responseTimeoutMs: 10_000,
};
/** A killed leader's lease runs out within 3 s; followers try every 300 ms. */
const LEASE_ARGS = ['--lease-duration', '3s', '--lease-renew-deadline', '2s', '--lease-retry', '300ms'];

/** Active updates and double-active devices, sampled from the database until stopped. */
function sampleDatabase(client: pg.Client) {
  let running = true;
  let maxActive = 0;
  let samples = 0;
  const doubleActive: string[] = [];
  const loop = (async () => {
    while (running) {
      const active = await client.query<{ n: number }>(
        'select count(*)::int as n from firmware_updates where finished_at is null',
      );
      maxActive = Math.max(maxActive, active.rows[0]!.n);
      for (const row of (await client.query(DOUBLE_ACTIVE_SQL)).rows) doubleActive.push(JSON.stringify(row));
      samples++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { maxActive, samples, doubleActive };
    },
  };
}

describe.skipIf(TEST_DATABASE_URL === undefined)(
  `${REPLICAS} otactl run replicas on one Postgres (skipped without TEST_DATABASE_URL: PGlite is one process)`,
  () => {
    let db: ProcessDatabase | undefined;
    let rollout: RolloutWorkspace | undefined;
    let client: pg.Client | undefined;
    const replicas: ControllerProcess[] = [];
    let fleet: Fleet | undefined;
    afterEach(async () => {
      await fleet?.stop();
      for (const r of replicas.splice(0)) await r.kill('SIGKILL');
      await client?.end().catch(() => {});
      await db?.drop();
      await rollout?.ws.remove();
    });

    it(`one rollout, maxInFlight ${MAX_IN_FLIGHT} over all: the lease holder killed, then a replica with downloads under way; every device updated once, Execute once`, async () => {
      db = await postgresProcessDatabase();
      rollout = await rolloutWorkspace({
        prefix: 'rep-',
        version: '2.0.0',
        maxInFlight: MAX_IN_FLIGHT,
        timeouts: { download: '30s', update: '30s' },
        retries: { max: 10, backoff: '1s' },
      });
      const start = async (i: number) => {
        const replica = await ControllerProcess.start({
          db: db!.spec,
          manifestsDir: rollout!.ws.manifestsDir,
          firmwareDir: rollout!.ws.firmwareDir,
          coapPort: await freeUdpPort(),
          httpPort: await freeTcpPort(),
          replicaId: `replica-${i}`,
          extraArgs: LEASE_ARGS,
        });
        replicas[i] = replica;
        return replica;
      };
      // The first migrates the database; the others join it.
      await start(0);
      await Promise.all([start(1), start(2)]);
      // A replica dying unasked fails the test at once.
      const crashes = Promise.race(replicas.map((r) => failOnCrash(r, `${r.options.replicaId} died`)));
      const race = <T>(p: Promise<T>) => Promise.race([p, crashes]);

      client = await db.client();
      const query = async <R extends pg.QueryResultRow>(text: string) => (await client!.query<R>(text)).rows;
      const sampler = sampleDatabase(await db.client());

      const clock = new ManualClock();
      fleet = await startFleet({
        server: replicas.map((r) => `coap://127.0.0.1:${r.options.coapPort}`),
        spread: true,
        count: DEVICES,
        prefix: 'rep-',
        version: '1.0.0',
        model: 'SIM1',
        protocols: [2],
        bindAddress: '127.0.0.1',
        staggerMs: 2,
        lifetime: LIFETIME_S,
        clock,
        timing: DEVICE_TIMING,
      });
      const allCheckIn = () => clock.advance(LIFETIME_S * 1000);
      await fleet.started;
      const began = performance.now();
      const log: string[] = [];
      const note = (what: string) =>
        log.push(`${((performance.now() - began) / 1000).toFixed(1)} s: ${what}`);
      const succeeded = async () =>
        (
          await query<{ n: number }>(
            `select count(*)::int as n from firmware_updates where phase = 'succeeded'`,
          )
        )[0]!.n;

      // 1. The lease holder, once a fifth of the fleet is done.
      await race(
        waitFor(
          'a fifth of the devices updated',
          async () => ((await succeeded()) >= DEVICES / 5 ? true : undefined),
          {
            intervalMs: 50,
          },
        ),
      );
      const [lease] = await query<{ holder: string; epoch: number }>(
        `select holder, epoch from leases where name = 'planner'`,
      );
      const leader = replicas.find((r) => r.options.replicaId === lease!.holder)!;
      await leader.kill('SIGKILL');
      note(
        `killed the lease holder ${lease!.holder} (epoch ${lease!.epoch}) at ${await succeeded()} succeeded`,
      );
      allCheckIn();

      // 2. Once another replica leads and the rollout went on: a live replica whose devices have
      // downloads under way (the new leader or not).
      const [next] = await race(
        waitFor(
          'another lease holder and two fifths of the devices updated',
          async () => {
            const rows = await query<{ holder: string; epoch: number }>(
              `select holder, epoch from leases where name = 'planner' and epoch > ${lease!.epoch}`,
            );
            return rows.length > 0 && (await succeeded()) >= (2 * DEVICES) / 5 ? rows : undefined;
          },
          { intervalMs: 50 },
        ),
      );
      note(`${next!.holder} holds the lease (epoch ${next!.epoch})`);
      const [busy] = await race(
        waitFor(
          'a live replica with downloads under way',
          async () => {
            const rows = await query<{ owner: string; n: number }>(`
              select d.owner_replica as owner, count(*)::int as n
              from firmware_updates u join devices d on d.id = u.device_id
              where u.phase = 'downloading' and d.owner_replica <> '${lease!.holder}'
              group by d.owner_replica order by n desc`);
            return rows.length > 0 ? rows : undefined;
          },
          { intervalMs: 20 },
        ),
      );
      const second = replicas.find((r) => r.options.replicaId === busy!.owner)!;
      await second.kill('SIGKILL');
      note(`killed ${busy!.owner} with ${busy!.n} downloads under way at ${await succeeded()} succeeded`);
      allCheckIn();
      const survivor = replicas.find((r) => r.alive)!;

      // The rollout can finish while devices of the second victim that had finished still fall
      // over (up to three unanswered requests): wait for both.
      const survivorId = survivor.options.replicaId!;
      await race(
        waitFor(
          'every device updated and on the last replica, nothing active',
          async () => {
            const [row] = await query<{ done: number; active: number; elsewhere: number; commands: number }>(`
              select count(*) filter (where phase = 'succeeded')::int as done,
                count(*) filter (where finished_at is null)::int as active,
                (select count(*)::int from devices where owner_replica is distinct from '${survivorId}') as elsewhere,
                (select count(*)::int from device_commands) as commands
              from firmware_updates`);
            // No device command is left: the dead replicas' claims were taken over or ended by the moves.
            return row!.done === DEVICES && row!.active === 0 && row!.elsewhere === 0 && row!.commands === 0
              ? true
              : undefined;
          },
          { intervalMs: 100, timeoutMs: 60_000 },
        ),
      ).catch(async (error: Error) => {
        const owners = await query('select owner_replica, count(*)::int from devices group by 1');
        const commands = await query('select update_id, kind, replica, expires_at from device_commands');
        const elsewhere = fleet!.devices
          .filter((d) => d.server.port !== survivor.options.coapPort)
          .map((d) => `${d.endpoint} on ${d.server.port} registered ${d.registered} v${d.firmwareVersion}`);
        throw new Error(
          `${error.message}\nowners ${JSON.stringify(owners)}\ncommands ${JSON.stringify(commands)}\n${elsewhere.join('\n')}\n${log.join('\n')}\n${survivor.diagnostics()}`,
        );
      });
      const { maxActive, samples, doubleActive } = await sampler.stop();
      note(`every device updated; at most ${maxActive} active in ${samples} samples`);

      // The simulator's side of it: every device talks to the survivor.
      expect(
        fleet.devices.filter((d) => d.server.port !== survivor.options.coapPort).map((d) => d.endpoint),
      ).toEqual([]);
      expect(fleet.summary().versions).toEqual({ '2.0.0': DEVICES });
      const executes = fleet.devices
        .filter((d) => d.updateExecutes !== 1)
        .map((d) => `${d.endpoint}: ${d.updateExecutes}`);
      expect(executes, log.join('\n')).toEqual([]);
      expect(samples).toBeGreaterThan(20);
      expect(maxActive, log.join('\n')).toBeLessThanOrEqual(MAX_IN_FLIGHT);
      expect(maxActive).toBeGreaterThan(MAX_IN_FLIGHT / 2);
      expect(doubleActive).toEqual([]);
      const history = await checkProcessDatabaseHistory(db, {
        endpoints: fleet.devices.map((d) => d.endpoint),
        targetVersion: rollout.target.version,
        rollout: rollout.rollout,
      });
      expect(history.violations, log.join('\n')).toEqual([]);
    }, 120_000);
  },
);
