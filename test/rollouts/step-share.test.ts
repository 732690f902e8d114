import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { admittedBy } from '../../controller/reconcile/plan/step-share.js';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, rolloutManifests, rolloutRow, Scene, settle } from '../helpers/rollout-fixture.js';

/**
 * A fleet that registers while the first step of a canary runs (issue 16): the devices started
 * never exceed the step's share of the members there are, checked after every pass; members that
 * join later only fill the room left.
 */
describe.each(testBackends)('a fleet registering while step 1 runs, on $name', (backend) => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('never has more devices started than ceil(10% of the members), and ends at exactly the share', async () => {
    scene = await Scene.create(backend);
    const s = scene;
    const target = await s.ws.addFirmware('2.0.0');
    await s.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({
        firmware: target,
        rollout: 'canary',
        spec: `  strategy:
    steps: [{ percent: 10, pause: manual }, { percent: 100 }]
    maxInFlight: 100
    failureThreshold: { percent: 100, minUpdates: 1000 }
`,
      }),
    );
    const controller = await s.startController();
    const overshoots: string[] = [];
    // Members only join: started <= share(members now) holds at any instant if it held when each started.
    const check = async () => {
      const row = await sql<{ started: string; members: string }>`
        select (select count(distinct device_id) from firmware_updates where rollout = 'canary') as started,
               (select count(*) from devices where info_read_at is not null) as members`.execute(s.db);
      const started = Number(row.rows[0]!.started);
      const members = Number(row.rows[0]!.members);
      if (started > admittedBy(10, members)) overshoots.push(`${started} started of ${members} members`);
    };
    controller.reconciler.on('pass', () => void check());

    // A first wave starts the step; the rest register in waves while it runs, many ranked ahead of it.
    await s.addFleet({ count: 15, prefix: 'sim-a-' });
    await afterPassWhen(controller, async () => {
      const r = await sql<{ n: string }>`select count(*) as n from firmware_updates`.execute(s.db);
      return Number(r.rows[0]!.n) > 0;
    });
    await s.addFleet({ count: 40, prefix: 'sim-b-', staggerMs: 20 });
    await s.addFleet({ count: 45, prefix: 'sim-c-', staggerMs: 20 });
    await s.devicesKnown(100);
    await afterPassWhen(controller, async () => (await rolloutRow(s.db, 'canary'))?.phase === 'Paused');
    await settle(controller, 3);
    await check();

    expect(overshoots).toEqual([]);
    const row = await rolloutRow(s.db, 'canary');
    expect(row?.counts.started).toBe(10);
    expect(row?.counts.selected).toBe(100);
    expect(row?.paused_reason).toBe('waiting for approval of step 2: raise spec.strategy.approved to 1');
    const started = await sql<{
      n: string;
    }>`select count(distinct device_id) as n from firmware_updates`.execute(s.db);
    expect(Number(started.rows[0]!.n)).toBe(10);
  }, 180_000);
});
