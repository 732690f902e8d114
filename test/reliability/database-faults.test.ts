import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { SimDevice } from '../../controller/sim/index.js';
import { TEST_DATABASE_URL } from '../helpers/databases.js';
import { postgresProcessDatabase } from './harness/databases.js';
import { failOnCrash, ProcessScene } from './harness/process-scene.js';
import { isComplete, rolloutStatus } from './harness/rollout-status.js';
import { sizeFromEnv } from './harness/seeded-random.js';
import { checkUpdateHistory, DOUBLE_ACTIVE_SQL } from './harness/update-history.js';
import { waitFor } from './harness/wait-for.js';

const DEVICES = sizeFromEnv('OTACTL_DBFAULT_DEVICES', 40);
const OUTAGES = sizeFromEnv('OTACTL_DBFAULT_OUTAGES', 3);

/** Database name of a postgres:// URL. */
function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

/**
 * Takes the controller's database away without stopping the shared server: new connections are
 * refused and every existing one is terminated. `restore` lets connections in again.
 */
async function takeDatabaseAway(admin: pg.Client, name: string): Promise<void> {
  await admin.query(`alter database ${name} with allow_connections false`);
  await admin.query(
    'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
    [name],
  );
}

async function restoreDatabase(admin: pg.Client, name: string): Promise<void> {
  await admin.query(`alter database ${name} with allow_connections true`);
}

describe.skipIf(!TEST_DATABASE_URL)('Postgres going away during a rollout', () => {
  let scene: ProcessScene | undefined;
  let late: SimDevice | undefined;
  let admin: pg.Client | undefined;
  afterEach(async () => {
    if (admin && scene) await restoreDatabase(admin, databaseOf(scene.db.spec)).catch(() => {});
    await late?.stop();
    await scene?.close();
    scene = undefined;
    await admin?.end().catch(() => {});
  });

  // Found here: a pooled client terminated while checked out used to emit an unhandled 'error'
  // and end the process (fixed in controller/store/open-database.ts).
  it('keeps LwM2M up, reports not-ready, retries, and finishes without duplicate or lost updates', async () => {
    scene = await ProcessScene.create({
      db: await postgresProcessDatabase(),
      rollout: { prefix: 'dbf-', version: '2.0.0', maxInFlight: 10 },
    });
    const { db, rollout: rw } = scene;
    const name = databaseOf(db.spec);
    admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    admin.on('error', () => {});
    await admin.connect();
    const coapPort = scene.options.coapPort;
    const running = await scene.startController();
    const crashed = failOnCrash(running);

    // The invariant, watched from a connection of its own (re-opened after each outage; nobody
    // writes while the database is away).
    const doubleActive: string[] = [];
    let watching = true;
    const spec = db.spec;
    const watcher = (async () => {
      let watch: pg.Client | undefined;
      while (watching) {
        try {
          if (!watch) {
            const fresh = new pg.Client({ connectionString: spec });
            fresh.on('error', () => {});
            await fresh.connect();
            watch = fresh;
          }
          const rows = await watch.query(DOUBLE_ACTIVE_SQL);
          for (const row of rows.rows) doubleActive.push(JSON.stringify(row));
        } catch {
          await watch?.end().catch(() => {});
          watch = undefined;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      await watch?.end().catch(() => {});
    })();

    const fleet = await scene.addFleet({
      count: DEVICES,
      prefix: 'dbf-',
      staggerMs: 20,
      faults: 'slow-download=1:4000',
      // Short retransmission: a device gives up on a dead controller (at clean-up) within seconds.
      timing: { ackTimeoutMs: 500, ackRandomFactor: 1.5, maxRetransmit: 3, responseTimeoutMs: 5_000 },
    });
    const progressed = new Set<string>();
    let nextOutageAt = Math.ceil(DEVICES / (OUTAGES + 1));
    let outages = 0;
    const endpoints = fleet.devices.map((d) => d.endpoint);
    // Counted all along: a device that reboots while an outage is being handled counts too
    // (listening only between outages missed those, and the last threshold was never reached).
    let onProgress = () => {};
    fleet.on('rebooted', (e) => {
      progressed.add(e.endpoint);
      onProgress();
    });

    while (outages < OUTAGES) {
      await Promise.race([
        new Promise<void>((resolve) => {
          onProgress = () => {
            if (progressed.size >= nextOutageAt) resolve();
          };
          onProgress();
        }),
        crashed,
      ]);
      outages++;
      nextOutageAt += Math.ceil(DEVICES / (OUTAGES + 1));
      await takeDatabaseAway(admin, name);

      // Not ready while the database is away...
      const notReady = await Promise.race([
        waitFor('/readyz to report the database', async () => {
          const res = await running.get('/readyz');
          const body = (await res.json()) as { ready: boolean; reasons: string[] };
          return res.status === 503 && body.reasons.some((r) => /database/.test(r)) ? body : undefined;
        }),
        crashed,
      ]);
      expect(notReady.ready).toBe(false);
      // ...while LwM2M keeps answering: a device registers during the outage (the first time).
      if (outages === 1) {
        late = new SimDevice({
          endpoint: 'dbf-late01',
          server: { address: '127.0.0.1', port: coapPort },
          model: 'SIM1',
          version: '1.0.0',
          protocols: [2],
          bindAddress: '127.0.0.1',
          timing: { ackTimeoutMs: 500, ackRandomFactor: 1.5, maxRetransmit: 3, responseTimeoutMs: 5_000 },
        });
        await Promise.race([late.start(), crashed]);
        expect(late.registered).toBe(true);
        endpoints.push(late.endpoint);
      }
      await restoreDatabase(admin, name);
      await Promise.race([
        waitFor('/readyz to recover', async () => {
          const res = await running.get('/readyz');
          await res.arrayBuffer();
          return res.status === 200 ? true : undefined;
        }),
        crashed,
      ]);
    }

    await Promise.race([
      waitFor(
        'the rollout to complete',
        async () => (isComplete(await rolloutStatus(running, rw!.rollout), DEVICES + 1) ? true : undefined),
        { intervalMs: 250, timeoutMs: 120_000 },
      ),
      crashed,
    ]).catch(async (error: Error) => {
      const view = await rolloutStatus(running, rw!.rollout).catch(() => undefined);
      throw new Error(`${error.message}\n${JSON.stringify(view?.counts)}\n${running.diagnostics()}`);
    });
    watching = false;
    await watcher;

    const failedPasses = running.lines.filter(
      (l) => l.msg === 'reconcile pass failed; retrying with backoff',
    );
    expect(failedPasses.length).toBeGreaterThan(0);
    const store = await db.open();
    try {
      const history = await checkUpdateHistory(store.db, {
        endpoints,
        targetVersion: rw.target.version,
        rollout: rw.rollout,
      });
      expect(history.violations).toEqual([]);
    } finally {
      await store.close();
    }
    expect(doubleActive).toEqual([]);
    expect(running.alive).toBe(true);
  }, 240_000);
});
