import { sql } from 'kysely';
import { startController } from '../../controller/app/start-controller.js';
import { createLogger } from '../../controller/log/index.js';
import type { SimHostHandlers } from '../children/sim-host.js';
import { waitFor } from '../concurrency.js';
import type { BenchDatabase } from '../databases.js';
import { type Figure, figure, GOALS } from '../figure.js';
import { countQueries } from '../query-counter.js';
import { spawnChild } from '../rpc.js';
import { createBenchWorkspace, groupManifest, rolloutManifest } from '../workspace.js';

const MODEL = 'SIM1';

/**
 * Figure 4 (and the simulator's memory for 6): the whole controller (startController) updates a
 * simulated fleet in a child process over HTTP, maxInFlight = fleet size. Timed from writing the
 * Rollout manifest until every device runs the new version and no update is active.
 */
export async function measureRollout(
  devices: number,
  database: BenchDatabase,
  log: (line: string) => void,
  timeoutMs: number,
  windowMs: number,
): Promise<Figure[]> {
  const ws = await createBenchWorkspace();
  const store = await database.open();
  const { db: countedDb, counter } = countQueries(store.db);
  const sims = spawnChild<SimHostHandlers>('sim-host', { gc: true });
  const controller = await startController({
    store: { ...store, db: countedDb },
    manifestsDir: ws.manifestsDir,
    firmwareDir: ws.firmwareDir,
    coapPort: 0,
    coapHost: '127.0.0.1',
    httpPort: 0,
    httpHost: '127.0.0.1',
    publicHost: '127.0.0.1',
    schemePreference: ['http'],
    logger: createLogger({ level: 'silent' }),
    manifestDebounceMs: 20,
    maxDownloadsPerClient: 100_000,
  });
  try {
    const target = await ws.addFirmware('2.0.0', MODEL);
    await ws.write('fleet.yaml', [target.manifest, groupManifest('bench', 'bench-*')].join('---\n'));
    await controller.manifestsLoaded;
    const fleet = await sims.call('start', {
      server: `coap://127.0.0.1:${controller.coapPort}`,
      count: devices,
      prefix: 'bench-',
      version: '1.0.0',
      model: MODEL,
    });
    const count = async (condition: ReturnType<typeof sql>) => {
      const r = await sql<{ n: number }>`select count(*)::int as n from devices where ${condition}`.execute(
        store.db,
      );
      return Number(r.rows[0]?.n ?? 0);
    };
    await waitFor(
      'every simulated device registered and interrogated',
      async () => (await count(sql`info_read_at is not null and firmware_version = '1.0.0'`)) === devices,
      timeoutMs,
      100,
    );

    counter.reset();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await ws.write('rollout.yaml', rolloutManifest('bench-2.0.0', 'bench', target.name, devices));
    // Done when every device runs 2.0.0 and no update is active, or when the window closes.
    let updated = 0;
    const deadline = t0 + windowMs;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      updated = await count(sql`firmware_version = '2.0.0'`);
      if (updated === devices) {
        const active = await sql<{ n: number }>`
          select count(*)::int as n from firmware_updates where finished_at is null`.execute(store.db);
        if (Number(active.rows[0]?.n ?? 0) === 0) break;
      }
      if (performance.now() > deadline) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const queries = counter.count;
    const perUpdate = queries / Math.max(1, updated);
    const succeeded = await sql<{ n: number }>`
      select count(*)::int as n from firmware_updates where phase = 'succeeded'`.execute(store.db);
    const perMinute = (updated / seconds) * 60;
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    log(
      `rollout ${devices}/${database.kind}: ${perMinute.toFixed(0)} updates/min, ${cpuSeconds.toFixed(1)} CPU s, ${perUpdate.toFixed(1)} queries/update`,
    );
    const common = { fleet: devices, database: database.kind } as const;
    return [
      figure(
        {
          id: `rollout.per-minute.${devices}.${database.kind}`,
          what: 'rollout: devices updated per minute (HTTP, maxInFlight = fleet)',
          value: perMinute,
          unit: '/min',
          ...common,
          note: `${updated}/${devices} devices on the new version after ${seconds.toFixed(1)} s${updated < devices ? ' (window closed)' : ''}; ${succeeded.rows[0]?.n ?? 0} updates succeeded`,
        },
        GOALS.rolloutPerMinute,
      ),
      figure({
        id: `rollout.cpu.${devices}.${database.kind}`,
        what: 'rollout: controller process CPU seconds',
        value: cpuSeconds,
        unit: 's',
        ...common,
        note: `${((cpuSeconds * 1000) / Math.max(1, updated)).toFixed(2)} ms per update${database.kind === 'postgres' ? '; Postgres server CPU not included' : '; includes PGlite'}`,
      }),
      figure({
        id: `rollout.queries.${devices}.${database.kind}`,
        what: 'rollout: database statements per device update',
        value: perUpdate,
        unit: 'queries',
        ...common,
        note: `${queries} statements${updated === 0 ? ' (no update finished in the window: total shown)' : ''} via a counting Kysely plugin (BEGIN/COMMIT not counted); most time: ${counter.top(4)}`,
      }),
      figure({
        id: `sim.heap.${devices}`,
        what: 'simulator: heap per simulated device (after GC)',
        value: fleet.heapPerDevice,
        unit: 'B',
        ...common,
        database: 'none',
        note: `RSS ${(fleet.rssPerDevice / 1024).toFixed(1)} KiB/device; fleet registered in ${fleet.seconds.toFixed(1)} s`,
      }),
    ];
  } finally {
    await sims.call('stop', undefined).catch(() => {});
    await sims.stop();
    await controller.stop();
    await store.close();
    await ws.cleanup();
  }
}
