import { type Kysely, sql } from 'kysely';
import { startLocalController } from '../../controller/demo/local-controller.js';
import { createWorkspace, groupManifest } from '../../controller/demo/workspace.js';
import { createLogger } from '../../controller/log/index.js';
import type { Database } from '../../controller/store/index.js';
import type { SimHostHandlers } from '../children/sim-host.js';
import { waitFor } from '../concurrency.js';
import type { BenchDatabase } from '../databases.js';
import { type Figure, figure, GOALS } from '../figure.js';
import { leftBehind } from '../left-behind.js';
import { passCostFigures } from '../pass-cost.js';
import { postgresBackendCpuSeconds } from '../process-cpu.js';
import { countQueries } from '../query-counter.js';
import { spawnChild } from '../rpc.js';
import { benchRollout } from '../workspace.js';

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
  const ws = await createWorkspace('otactl-bench-');
  const store = await database.open();
  const { db: countedDb, counter } = countQueries(store.db);
  const sims = spawnChild<SimHostHandlers>('sim-host', { gc: true });
  const controller = await startLocalController({ ...store, db: countedDb }, ws, {
    schemePreference: ['http'],
    logger: createLogger({ level: 'silent' }),
    manifestDebounceMs: 20,
    maxDownloadsPerClient: 100_000,
  });
  try {
    const target = await ws.addFirmware('2.0.0', MODEL);
    await ws.writeManifest('fleet.yaml', [target.manifest, groupManifest('bench', 'bench-*')].join('---\n'));
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
    let passes = 0;
    let fullPasses = 0;
    let passActions = 0;
    const onPass = (result: { actions: number; plans: ReadonlyMap<string, unknown> }) => {
      passes++;
      if (result.plans.size > 0) fullPasses++;
      passActions += result.actions;
    };
    controller.reconciler.on('pass', onPass);
    const simCpu0 = await sims.call('cpuSeconds', undefined);
    const postgresCpu0 = database.kind === 'postgres' ? await postgresBackendCpuSeconds(store.db) : undefined;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    // The start rate (default 1,000 a minute) must not be what is measured: allow the whole fleet at once.
    const manifest = `${benchRollout(target.name, devices)}    maxPerMinute: ${Math.max(1000, devices)}\n`;
    await ws.writeManifest('rollout.yaml', manifest);
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
    const simCpu = (await sims.call('cpuSeconds', undefined)) - simCpu0;
    const postgresCpu1 = postgresCpu0 === undefined ? undefined : await postgresBackendCpuSeconds(store.db);
    const postgresCpu =
      postgresCpu0 === undefined || postgresCpu1 === undefined ? undefined : postgresCpu1 - postgresCpu0;
    controller.reconciler.off('pass', onPass);
    const queries = counter.withTransactionControl;
    const perUpdate = queries / Math.max(1, updated);
    const waits = await updateWaits(store.db);
    const left = updated < devices ? await leftBehind(store.db, '2.0.0') : '';
    if (left) log(`rollout ${devices}/${database.kind}: not updated when the window closed: ${left}`);
    const succeeded = await sql<{ n: number }>`
      select count(*)::int as n from firmware_updates where phase = 'succeeded'`.execute(store.db);
    const perMinute = (updated / seconds) * 60;
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    log(
      `rollout ${devices}/${database.kind}: ${perMinute.toFixed(0)} updates/min, ${cpuSeconds.toFixed(1)} CPU s, ${perUpdate.toFixed(1)} statements/update (${(counter.count / Math.max(1, updated)).toFixed(1)} without BEGIN/COMMIT), ${passes} passes (${(passActions / Math.max(1, passes)).toFixed(1)} updates acted on per pass); waits ${waits}`,
    );
    log(`rollout ${devices}/${database.kind}: statement time (serialized): ${counter.top(6, 'serviceMs')}`);
    log(
      `rollout ${devices}/${database.kind}: CPU seconds: controller ${cpuSeconds.toFixed(1)}, simulator ${simCpu.toFixed(1)}${postgresCpu === undefined ? '' : `, Postgres backends ${postgresCpu.toFixed(1)}`} over ${seconds.toFixed(1)} s`,
    );
    const failed = Object.entries(await sims.call('downloadFailures', undefined));
    const failures = failed.map(([detail, n]) => `${n} x ${detail}`).join(', ');
    if (failed.length > 0) log(`rollout ${devices}/${database.kind}: failed downloads: ${failures}`);
    const common = { fleet: devices, database: database.kind } as const;
    return [
      figure(
        {
          id: `rollout.per-minute.${devices}.${database.kind}`,
          what: 'rollout: devices updated per minute (HTTP, maxInFlight = fleet)',
          value: perMinute,
          unit: '/min',
          ...common,
          note: `${updated}/${devices} devices on the new version after ${seconds.toFixed(1)} s${updated < devices ? ' (window closed)' : ''}; ${succeeded.rows[0]?.n ?? 0} updates succeeded; ${passes} reconcile passes; ${waits}${failed.length > 0 ? `; failed downloads: ${failures}` : ''}${left ? `; not updated: ${left}` : ''}`,
        },
        GOALS.rolloutPerMinute,
      ),
      figure({
        id: `rollout.cpu.${devices}.${database.kind}`,
        what: 'rollout: controller process CPU seconds',
        value: cpuSeconds,
        unit: 's',
        ...common,
        note: `${((cpuSeconds * 1000) / Math.max(1, updated)).toFixed(2)} ms per update; ${(cpuSeconds / Math.max(seconds, 0.001)).toFixed(2)} cores busy${database.kind === 'postgres' ? '; Postgres server CPU not included' : '; includes PGlite'}`,
      }),
      figure({
        id: `rollout.queries.${devices}.${database.kind}`,
        what: 'rollout: database statements per device update',
        value: perUpdate,
        unit: 'queries',
        ...common,
        note: `${queries} statements${updated === 0 ? ' (no update finished in the window: total shown)' : ''} via a counting Kysely plugin, ${2 * counter.transactions} of them BEGIN/COMMIT (${counter.transactions} transactions); most time: ${counter.top(4)}`,
      }),
      ...passCostFigures({ passes, fullPasses, seconds, statements: queries, cpuSeconds }, common),
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
    await ws.remove();
  }
}

/**
 * Where the time of an update went, from the rows: how long it waited for the controller (median /
 * p90 in ms: start to writing the Package URI, that write's round trip until its answer was recorded, the device reporting Downloaded to Execute, the
 * device's post-reboot object 3 read to the update finishing), and how long the devices took.
 */
async function updateWaits(db: Kysely<Database>): Promise<string> {
  const r = await sql<Record<string, number | null>>`
    with w as (
      select extract(epoch from u.uri_written_at - u.created_at) * 1000 as to_write,
        -- Sending the write to recording its answer (the event's statement time, same host's clock).
        extract(epoch from (select min(e.at) from events e
          where e.update_id = u.id and e.type = 'PackageUriWritten') - u.uri_written_at) * 1000 as write_trip,
        extract(epoch from u.executed_at - u.downloaded_at) * 1000 as to_execute,
        extract(epoch from u.finished_at - d.info_read_at) * 1000 as to_finish,
        extract(epoch from u.downloaded_at - u.uri_written_at) * 1000 as downloading,
        extract(epoch from d.info_read_at - u.executed_at) * 1000 as installing
      from firmware_updates u join devices d on d.id = u.device_id
      where u.phase = 'succeeded')
    select
      percentile_cont(0.5) within group (order by to_write) as write50,
      percentile_cont(0.9) within group (order by to_write) as write90,
      percentile_cont(0.5) within group (order by write_trip) as trip50,
      percentile_cont(0.9) within group (order by write_trip) as trip90,
      percentile_cont(0.5) within group (order by to_execute) as execute50,
      percentile_cont(0.9) within group (order by to_execute) as execute90,
      percentile_cont(0.5) within group (order by to_finish) as finish50,
      percentile_cont(0.9) within group (order by to_finish) as finish90,
      percentile_cont(0.5) within group (order by downloading) as downloading50,
      percentile_cont(0.5) within group (order by installing) as installing50,
      (select extract(epoch from max(created_at) - min(created_at)) * 1000 from firmware_updates) as starts_spread,
      (select extract(epoch from max(finished_at) - min(created_at)) * 1000 from firmware_updates) as whole,
      (select percentile_cont(0.5) within group (order by extract(epoch from finished_at - created_at) * 1000)
        from firmware_updates) as each50
    from w`.execute(db);
  const row = r.rows[0] ?? {};
  const ms = (key: string) =>
    row[key] === null || row[key] === undefined ? '?' : Number(row[key]).toFixed(0);
  return `start->write ${ms('write50')}/${ms('write90')} ms, write sent->answer recorded ${ms('trip50')}/${ms('trip90')} ms, downloaded->execute ${ms('execute50')}/${ms('execute90')} ms, rebooted->finished ${ms('finish50')}/${ms('finish90')} ms (median/p90); starts spread over ${ms('starts_spread')} ms, first start to last finish ${ms('whole')} ms, one update ${ms('each50')} ms (median) of which the device downloading ${ms('downloading50')} ms and installing ${ms('installing50')} ms`;
}
