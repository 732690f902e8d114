import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Controller } from '../../controller/app/start-controller.js';
import type { Fleet } from '../../controller/sim/index.js';
import { type OpenDatabase, openDatabase } from '../../controller/store/index.js';
import { TEST_DATABASE_URL, testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  countWhere,
  createWorkspace,
  rolloutManifests,
  startSteadyFleet,
  startTestController,
  type Workspace,
} from '../helpers/rollout-fixture.js';
import { waitFor } from '../reliability/harness/wait-for.js';

const PER_REPLICA = 20;
const MAX_IN_FLIGHT = 5;
const REPLICA = {
  lease: { durationMs: 2_000, renewDeadlineMs: 1_200, retryMs: 150 },
  heartbeat: { intervalMs: 200, goneAfterMs: 1_000, forgetAfterMs: 60_000 },
};

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

async function replica(store: OpenDatabase, ws: Workspace, id: string): Promise<Controller> {
  const controller = await startTestController(store, ws, { replica: { id, ...REPLICA } });
  cleanup.push(() => controller.stop());
  await controller.manifestsLoaded;
  return controller;
}

async function fleetAt(controller: Controller, prefix: string): Promise<Fleet> {
  const fleet = await startSteadyFleet(controller, PER_REPLICA, prefix);
  cleanup.push(() => fleet.stop());
  return fleet;
}

/**
 * Samples the number of active updates as fast as one connection allows until stopped; the
 * largest sample. Sampling, not waiting: the test waits on the rollout's outcome.
 */
function sampleActive(db: OpenDatabase['db']): { stop(): Promise<{ max: number; samples: number }> } {
  let running = true;
  let max = 0;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, await countWhere(db, 'firmware_updates', sql<boolean>`finished_at is null`));
      samples++;
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { max, samples };
    },
  };
}

describe.skipIf(TEST_DATABASE_URL === undefined)(
  'two controller replicas on one Postgres (PGlite is one process: skipped without TEST_DATABASE_URL)',
  () => {
    it(`admit one rollout globally: never more than maxInFlight ${MAX_IN_FLIGHT} active, every device updated once`, async () => {
      const postgres = testBackends.find((b) => b.name === 'postgres')!;
      const first = await postgres.open();
      cleanup.push(() => first.close());
      const spec = first.spec as Extract<OpenDatabase['spec'], { kind: 'postgres' }>;
      const second = await openDatabase(spec, { migrate: false, poolSize: 4 });
      cleanup.push(() => second.close());
      const sampling = await openDatabase(spec, { migrate: false, poolSize: 1 });
      cleanup.push(() => sampling.close());
      const ws = await createWorkspace('otactl-two-replicas-');
      cleanup.push(() => ws.remove());

      const a = await replica(first, ws, 'replica-a');
      const b = await replica(second, ws, 'replica-b');
      const fleets = [await fleetAt(a, 'sim-a-'), await fleetAt(b, 'sim-b-')];
      const total = 2 * PER_REPLICA;
      await waitFor('every device read by its replica', async () =>
        (await countWhere(first.db, 'devices', sql<boolean>`info_read_at is not null`)) === total
          ? true
          : undefined,
      );
      expect(
        await first.db
          .selectFrom('devices')
          .select(['owner_replica', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('owner_replica')
          .orderBy('owner_replica')
          .execute(),
      ).toEqual([
        { owner_replica: 'replica-a', n: expect.anything() },
        { owner_replica: 'replica-b', n: expect.anything() },
      ]);

      const sampler = sampleActive(sampling.db);
      await ws.writeManifest(
        'fleet.yaml',
        rolloutManifests({
          firmware: await ws.addFirmware('2.0.0'),
          rollout: 'shared',
          spec: `  strategy:
    maxInFlight: ${MAX_IN_FLIGHT}
`,
        }),
      );
      const succeeded = () => countWhere(first.db, 'firmware_updates', sql<boolean>`phase = 'succeeded'`);
      await afterPassWhen(a, async () => (await succeeded()) >= total);
      const { max, samples } = await sampler.stop();

      expect(samples).toBeGreaterThan(10);
      expect(max).toBeLessThanOrEqual(MAX_IN_FLIGHT);
      expect(max).toBeGreaterThan(1);
      const perDevice = await sql<{ endpoint: string; succeeded: number; active: number }>`
        select d.endpoint,
          count(u.id) filter (where u.phase = 'succeeded')::int as succeeded,
          count(u.id) filter (where u.finished_at is null)::int as active
        from devices d left join firmware_updates u on u.device_id = d.id
        group by d.endpoint order by d.endpoint`.execute(first.db);
      expect(perDevice.rows).toHaveLength(total);
      expect(perDevice.rows.filter((r) => r.succeeded !== 1 || r.active !== 0)).toEqual([]);
      for (const fleet of fleets) expect(fleet.summary().versions).toEqual({ '2.0.0': PER_REPLICA });
      // Each replica drove the updates of its own devices: their Package URIs name its HTTP port.
      for (const [controller, prefix] of [
        [a, 'sim-a-'],
        [b, 'sim-b-'],
      ] as const) {
        const uris = await first.db
          .selectFrom('firmware_updates')
          .select('package_uri')
          .where('endpoint', 'like', `${prefix}%`)
          .execute();
        expect(uris.every((u) => u.package_uri?.includes(`:${controller.httpPort}/`))).toBe(true);
      }
      for (const fleet of fleets) await fleet.stop();
    });
  },
);
