import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRegistrations } from '../../controller/devices/index.js';
import { DeviceWriteQueue } from '../../controller/devices/write-queue.js';
import { loadActiveUpdates } from '../../controller/reconcile/read/load-active-updates.js';
import { type DeviceOwnership, readReplicasView } from '../../controller/replicas/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import { insertUpdateRow } from '../helpers/update-rows.js';

const SELF: DeviceOwnership = { replicaId: 'replica-a', goneAfterMs: 30_000 };

let store: OpenDatabase | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

/**
 * Replica rows (b heartbeating now, c silent for a minute) and one registered device with an
 * active update per owner: a (self), b (live), c (gone), d (never had a row), and none.
 */
async function seed(db: OpenDatabase['db']): Promise<void> {
  await sql`insert into replicas (id, started_at, heartbeat_at, version) values
    ('replica-a', now(), now(), 'x'),
    ('replica-b', now(), now(), 'x'),
    ('replica-c', now() - interval '2 minutes', now() - interval '1 minute', 'x')`.execute(db);
  const owners = ['replica-a', 'replica-b', 'replica-c', 'replica-d', null];
  for (const [i, owner] of owners.entries()) {
    const endpoint = `dev-${owner ?? 'none'}`;
    await db
      .insertInto('devices')
      .values({
        endpoint,
        owner_replica: owner,
        registration_id: `r${i}`,
        registration_state: 'registered',
        address: '127.0.0.1',
        port: 40_000 + i,
        lifetime_s: 3600,
        lwm2m_version: '1.1',
        registered_at: new Date(),
        last_seen_at: new Date(),
        expires_at: new Date(Date.now() + 3_600_000),
        updated_at: new Date(),
      })
      .execute();
    await insertUpdateRow(db, endpoint);
  }
}

describe.each(testBackends)('device ownership on $name', (backend) => {
  it("a replica's update pass and restore skip only the devices another live replica owns", async () => {
    store = await backend.open();
    await seed(store.db);

    const acted = (await loadActiveUpdates(store.db, undefined, SELF)).map((u) => u.endpoint);
    expect(acted.sort()).toEqual(['dev-none', 'dev-replica-a', 'dev-replica-c', 'dev-replica-d']);
    const restored = (await loadRegistrations(store.db, Date.now(), SELF)).map((r) => r.endpoint);
    expect(restored.sort()).toEqual(acted);

    // b goes silent: its device is anyone's.
    await sql`update replicas set heartbeat_at = now() - interval '31 seconds' where id = 'replica-b'`.execute(
      store.db,
    );
    expect(await loadActiveUpdates(store.db, undefined, SELF)).toHaveLength(5);

    // The only process on its database acts on every device, as does a pass without ownership.
    await sql`update replicas set heartbeat_at = now() where id = 'replica-b'`.execute(store.db);
    expect(await loadActiveUpdates(store.db, undefined, { ...SELF, sole: true })).toHaveLength(5);
    expect(await loadActiveUpdates(store.db)).toHaveLength(5);
  });

  it('the replicas view counts registered devices per owner, and those of no listed replica', async () => {
    store = await backend.open();
    await seed(store.db);
    await sql`update devices set registration_state = 'expired' where endpoint = 'dev-replica-c'`.execute(
      store.db,
    );
    const view = await readReplicasView(store.db, 'planner', 30_000);
    expect(view.replicas.map((r) => [r.id, r.status, r.devices])).toEqual([
      ['replica-a', 'live', 1],
      ['replica-b', 'live', 1],
      ['replica-c', 'gone', 0],
    ]);
    expect(view.devicesWithoutReplica).toBe(2);
  });

  it('an expiry this replica saw ends no registration another live replica owns', async () => {
    store = await backend.open();
    await seed(store.db);
    const queue = new DeviceWriteQueue(store.db, {
      maxBatch: 500,
      clock: Date.now,
      logger: { debug() {}, warn() {}, error() {} },
      onCommitted: () => {},
      ownership: SELF,
    });
    // r1 is b's (live), r2 c's (gone); a de-register came to this replica, so it ends r3 whoever owns it.
    queue.enqueue({ endpoint: 'dev-replica-b', end: { registrationId: 'r1', state: 'expired' } });
    queue.enqueue({ endpoint: 'dev-replica-c', end: { registrationId: 'r2', state: 'expired' } });
    queue.enqueue({ endpoint: 'dev-replica-d', end: { registrationId: 'r3', state: 'deregistered' } });
    expect(await queue.flush()).toBe(true);
    await queue.close();
    const rows = await store.db
      .selectFrom('devices')
      .select(['endpoint', 'registration_state'])
      .where('endpoint', 'in', ['dev-replica-b', 'dev-replica-c', 'dev-replica-d'])
      .orderBy('endpoint')
      .execute();
    expect(rows.map((r) => [r.endpoint, r.registration_state])).toEqual([
      ['dev-replica-b', 'registered'],
      ['dev-replica-c', 'expired'],
      ['dev-replica-d', 'deregistered'],
    ]);
  });

  it('refuses an owner id no replica could have', async () => {
    store = await backend.open();
    await expect(
      sql`insert into devices (endpoint, owner_replica, updated_at) values ('x', 'has space', now())`.execute(
        store.db,
      ),
    ).rejects.toThrow(/devices_owner_replica_id/);
  });
});
