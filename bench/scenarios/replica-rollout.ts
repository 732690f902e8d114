import { type Kysely, sql } from 'kysely';
import { createWorkspace, groupManifest } from '../../controller/demo/workspace.js';
import { type Database, openDatabase } from '../../controller/store/index.js';
import type { SimHostHandlers } from '../children/sim-host.js';
import { createPostgresDatabase } from '../databases.js';
import { type Figure, figure, GOALS } from '../figure.js';
import { ReplicaProcess } from '../replica-process.js';
import { fleetInterrogated, rolloutDone } from '../rollout-progress.js';
import { spawnChild } from '../rpc.js';
import type { BenchSizes } from '../sizes.js';
import { benchRollout } from '../workspace.js';

const MODEL = 'SIM1';

/**
 * The rollout figure (devices updated per minute, HTTP, maxInFlight = fleet) with `replicas`
 * `otactl run` processes sharing a fresh Postgres database and the fleet: device i registers with
 * replica i mod N (the simulator's --spread), so each replica drives a third of the updates and one
 * of them plans. Timed as the single-replica figure: from writing the Rollout manifest until every
 * device runs the new version and no update is active. Every process shares this machine's cores.
 */
export async function measureReplicaRollout(
  devices: number,
  replicas: number,
  postgresUrl: string,
  log: (line: string) => void,
  sizes: Pick<BenchSizes, 'timeoutMs' | 'rolloutWindowMs'>,
): Promise<Figure[]> {
  const { timeoutMs, rolloutWindowMs: windowMs } = sizes;
  const database = await createPostgresDatabase(postgresUrl);
  const store = await openDatabase({ kind: 'postgres', url: database.url }, { poolSize: 2 });
  const ws = await createWorkspace('otactl-bench-');
  const sims = spawnChild<SimHostHandlers>('sim-host', { gc: true });
  const started: ReplicaProcess[] = [];
  try {
    const target = await ws.addFirmware('2.0.0', MODEL);
    await ws.writeManifest('fleet.yaml', [target.manifest, groupManifest('bench', 'bench-*')].join('---\n'));
    const options = (i: number) => ({
      id: `bench-replica-${i + 1}`,
      db: database.url,
      manifestsDir: ws.manifestsDir,
      firmwareDir: ws.firmwareDir,
    });
    // The database is migrated (above): the replicas start side by side.
    started.push(
      ...(await Promise.all(
        Array.from({ length: replicas }, (_, i) => ReplicaProcess.start(options(i), timeoutMs)),
      )),
    );
    await sims.call('start', {
      server: started.map((r) => `coap://127.0.0.1:${r.coapPort}`),
      spread: true,
      count: devices,
      prefix: 'bench-',
      version: '1.0.0',
      model: MODEL,
    });
    await fleetInterrogated(store.db, devices, '1.0.0', timeoutMs);

    const cpu0 = started.map((r) => r.cpuSeconds());
    const t0 = performance.now();
    // As the single-replica figure: the start rate must not be what is measured.
    const manifest = `${benchRollout(target.name, devices)}    maxPerMinute: ${Math.max(1000, devices)}\n`;
    await ws.writeManifest('rollout.yaml', manifest);
    const updated = await rolloutDone(store.db, devices, '2.0.0', t0 + windowMs);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = started.map((r, i) => r.cpuSeconds() - cpu0[i]!);
    const cpuSeconds = cpu.reduce((a, b) => a + b, 0);
    const perMinute = (updated / seconds) * 60;
    const shares = await updatesByReplica(store.db);
    const outcomes = await updateOutcomes(store.db);
    const failed = Object.entries(await sims.call('downloadFailures', undefined));
    const failures = failed.map(([detail, n]) => `${n} x ${detail}`).join(', ');
    const [lease] = (
      await sql<{ holder: string }>`select holder from leases where name = 'planner'`.execute(store.db)
    ).rows;
    log(
      `rollout ${devices}/postgres, ${replicas} replicas: ${perMinute.toFixed(0)} updates/min, ${cpuSeconds.toFixed(1)} CPU s (${cpu.map((c) => c.toFixed(1)).join(' + ')}); updates by owner ${shares}; planner ${lease?.holder ?? '?'}; updates ${outcomes}${failed.length > 0 ? `; failed downloads: ${failures}` : ''}`,
    );
    const common = { fleet: devices, database: 'postgres' } as const;
    return [
      figure(
        {
          id: `rollout.per-minute.${devices}.postgres.replicas-${replicas}`,
          what: `rollout: devices updated per minute (HTTP, maxInFlight = fleet), ${replicas} replicas`,
          value: perMinute,
          unit: '/min',
          ...common,
          note: `${updated}/${devices} devices on the new version after ${seconds.toFixed(1)} s${updated < devices ? ' (window closed)' : ''}; ${replicas} otactl run processes on one Postgres, devices spread over them (succeeded updates by owner: ${shares}); the planner on ${lease?.holder ?? '?'}; updates by phase: ${outcomes}`,
        },
        GOALS.rolloutPerMinute,
      ),
      figure({
        id: `rollout.cpu.${devices}.postgres.replicas-${replicas}`,
        what: `rollout: CPU seconds of the ${replicas} replica processes together`,
        value: cpuSeconds,
        unit: 's',
        ...common,
        note: `${cpu.map((c) => c.toFixed(1)).join(' + ')} s; ${((cpuSeconds * 1000) / Math.max(1, updated)).toFixed(2)} ms per update; Postgres server CPU not included`,
      }),
    ];
  } finally {
    await sims.call('stop', undefined).catch(() => {});
    await sims.stop();
    await Promise.all(started.map((r) => r.stop()));
    await store.close();
    await ws.remove();
    await database.drop();
  }
}

/** Updates by phase and failure reason, the most first, e.g. `succeeded 4990, failed (download failed) 10`. */
async function updateOutcomes(db: Kysely<Database>): Promise<string> {
  const rows = await sql<{ phase: string; reason: string | null; n: number }>`
    select phase, failure_reason as reason, count(*)::int as n from firmware_updates
    group by 1, 2 order by 3 desc limit 6`.execute(db);
  return rows.rows.map((r) => `${r.phase}${r.reason ? ` (${r.reason})` : ''} ${r.n}`).join(', ');
}

/** Succeeded updates per owning replica, e.g. `bench-replica-1 334, bench-replica-2 333, ...`. */
async function updatesByReplica(db: Kysely<Database>): Promise<string> {
  const rows = await sql<{ owner: string | null; n: number }>`
    select d.owner_replica as owner, count(*)::int as n
    from firmware_updates u join devices d on d.id = u.device_id
    where u.phase = 'succeeded' group by 1 order by 1`.execute(db);
  return rows.rows.map((r) => `${r.owner ?? 'none'} ${r.n}`).join(', ');
}
