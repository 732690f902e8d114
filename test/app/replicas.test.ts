import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Controller } from '../../controller/app/start-controller.js';
import type { ReplicasView } from '../../controller/replicas/index.js';
import { type Fleet, startFleet } from '../../controller/sim/index.js';
import { type OpenDatabase, openDatabase } from '../../controller/store/index.js';
import { TEST_DATABASE_URL, testBackends } from '../helpers/databases.js';
import { createWorkspace, startTestController, type Workspace } from '../helpers/rollout-fixture.js';
import { waitFor } from '../reliability/harness/wait-for.js';

/** Short leases: the database clock is real. */
const REPLICA = {
  lease: { durationMs: 2_000, renewDeadlineMs: 1_200, retryMs: 150 },
  heartbeat: { intervalMs: 200, goneAfterMs: 1_000, forgetAfterMs: 60_000 },
};

let ws: Workspace;
const cleanup: (() => Promise<void>)[] = [];
beforeEach(async () => {
  ws = await createWorkspace('otactl-replicas-');
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await ws.remove();
});

/** A controller stopped by the test or, at the latest, after it. */
async function start(store: OpenDatabase, id: string): Promise<Controller & { stopOnce(): Promise<void> }> {
  const controller = await startTestController(store, ws, { replica: { id, ...REPLICA } });
  let stopped: Promise<void> | undefined;
  const stopOnce = () => {
    stopped ??= controller.stop();
    return stopped;
  };
  cleanup.push(stopOnce);
  return Object.assign(controller, { stopOnce });
}

/** Simulated devices `own-000001`... registering with `controller`; stopped after the test. */
async function fleetAt(controller: Controller, count: number): Promise<Fleet> {
  const fleet = await startFleet({
    server: `coap://127.0.0.1:${controller.coapPort}`,
    count,
    prefix: 'own-',
    version: '1.0.0',
    model: 'SIM1',
    staggerMs: 0,
    lifetime: 3600,
  });
  cleanup.push(() => fleet.stop());
  await fleet.started;
  return fleet;
}

/** Owner replica by endpoint, once `done` holds for it. */
async function ownersWhen(
  store: OpenDatabase,
  done: (owners: Record<string, string | null>) => boolean,
): Promise<Record<string, string | null>> {
  return waitFor('device owners', async () => {
    const rows = await store.db
      .selectFrom('devices')
      .select(['endpoint', 'owner_replica'])
      .where('registration_state', '=', 'registered')
      .execute();
    const owners = Object.fromEntries(rows.map((r) => [r.endpoint, r.owner_replica]));
    return done(owners) ? owners : undefined;
  });
}

async function getJson<T>(controller: Controller, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${controller.httpPort}${path}`);
  return { status: res.status, body: (await res.json()) as T };
}

async function metric(controller: Controller, name: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${controller.httpPort}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith(`${name}{`));
}

describe.each(testBackends)('replicas of the controller on $name', (backend) => {
  it('a single process is the only replica and the leader, and says so in the API, metrics and /readyz', async () => {
    const store = await backend.open();
    cleanup.push(() => store.close());
    const controller = await start(store, 'solo');
    await controller.manifestsLoaded;

    const { body } = await getJson<ReplicasView & { self: string }>(controller, '/api/v1/replicas');
    expect(body.self).toBe('solo');
    expect(body.lease).toMatchObject({ holder: 'solo', epoch: 1, expired: false });
    expect(body.replicas).toEqual([
      expect.objectContaining({
        id: 'solo',
        status: 'live',
        leader: true,
        version: '0.1.0',
        addresses: {
          coap: `127.0.0.1:${controller.coapPort}`,
          http: `127.0.0.1:${controller.httpPort}`,
        },
      }),
    ]);
    expect(await metric(controller, 'otactl_leader')).toEqual(['otactl_leader{replica="solo"} 1']);
    expect(await metric(controller, 'otactl_lease_epoch')).toEqual(['otactl_lease_epoch{replica="solo"} 1']);
    expect((await getJson(controller, '/readyz')).status).toBe(200);

    // It owns the devices that register with it.
    const fleet = await fleetAt(controller, 2);
    await ownersWhen(store, (o) => o['own-000001'] === 'solo' && o['own-000002'] === 'solo');
    const counted = await getJson<ReplicasView>(controller, '/api/v1/replicas');
    expect(counted.body.replicas.map((r) => [r.id, r.devices])).toEqual([['solo', 2]]);
    expect(await metric(controller, 'otactl_replica_devices')).toEqual([
      'otactl_replica_devices{replica="solo"} 2',
    ]);

    // A clean stop removes the row and lets the lease go.
    await fleet.stop();
    await controller.stopOnce();
    const rows = await store.db.selectFrom('replicas').select('id').execute();
    expect(rows).toEqual([]);
  });
});

describe.skipIf(TEST_DATABASE_URL === undefined)('two controllers on one Postgres', () => {
  it('one leads, the other follows and is ready; when the leader stops, the follower leads with epoch 2', async () => {
    const first = await testBackends.find((b) => b.name === 'postgres')!.open();
    cleanup.push(() => first.close());
    const spec = first.spec as Extract<OpenDatabase['spec'], { kind: 'postgres' }>;
    const second = await openDatabase(spec, { migrate: false, poolSize: 4 });
    cleanup.push(() => second.close());

    const a = await start(first, 'replica-a');
    const b = await start(second, 'replica-b');
    await Promise.all([a.manifestsLoaded, b.manifestsLoaded]);

    const seenByB = await getJson<ReplicasView & { self: string }>(b, '/api/v1/replicas');
    expect(seenByB.body.self).toBe('replica-b');
    expect(seenByB.body.lease).toMatchObject({ holder: 'replica-a', epoch: 1 });
    expect(seenByB.body.replicas.map((r) => [r.id, r.status, r.leader])).toEqual([
      ['replica-a', 'live', true],
      ['replica-b', 'live', false],
    ]);
    expect(await metric(b, 'otactl_leader')).toEqual(['otactl_leader{replica="replica-b"} 0']);
    // A follower is ready: it serves devices and the API.
    expect(await getJson(b, '/readyz')).toEqual({ status: 200, body: { ready: true, reasons: [] } });

    // Devices belong to the replica they register with, and move with their next Register.
    const atA = await fleetAt(a, 3);
    await ownersWhen(first, (o) => Object.values(o).filter((owner) => owner === 'replica-a').length === 3);
    const atB = await fleetAt(b, 2);
    expect(
      await ownersWhen(first, (o) => o['own-000001'] === 'replica-b' && o['own-000002'] === 'replica-b'),
    ).toEqual({ 'own-000001': 'replica-b', 'own-000002': 'replica-b', 'own-000003': 'replica-a' });
    const perReplica = await getJson<ReplicasView>(b, '/api/v1/replicas');
    expect(perReplica.body.replicas.map((r) => [r.id, r.devices])).toEqual([
      ['replica-a', 1],
      ['replica-b', 2],
    ]);
    expect((await metric(a, 'otactl_replica_devices')).sort()).toEqual([
      'otactl_replica_devices{replica="replica-a"} 1',
      'otactl_replica_devices{replica="replica-b"} 2',
    ]);
    await Promise.all([atA.stop(), atB.stop()]);

    await a.stopOnce();
    const taken = await waitFor(
      'replica-b to lead',
      async () => {
        const { body } = await getJson<ReplicasView>(b, '/api/v1/replicas');
        return body.lease?.holder === 'replica-b' ? body : undefined;
      },
      { intervalMs: 50, timeoutMs: 10_000 },
    );
    expect(taken.lease?.epoch).toBe(2);
    expect(taken.replicas.map((r) => [r.id, r.leader])).toEqual([['replica-b', true]]);
    expect(await metric(b, 'otactl_leader')).toEqual(['otactl_leader{replica="replica-b"} 1']);
  });
});
