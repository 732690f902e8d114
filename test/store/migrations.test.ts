import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { NOTIFICATION_EVENTS } from '../../controller/manifests/index.js';
import { migrateToLatest } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';

describe.each(testBackends)('migrations on $name', (backend) => {
  it('apply on an empty database and create every table', async () => {
    const store = await backend.open({ migrate: false });
    try {
      const first = await migrateToLatest(store.db, schemaOf(store.spec));
      expect(first).toEqual({
        ok: true,
        applied: [
          '0001-initial',
          '0002-canary-keys',
          '0003-device-events-index',
          '0005-url-signing-keys',
          '0006-reported-codes',
          '0007-rollout-target',
          '0008-version-order',
          '0009-update-refusals',
          '0010-phase-checks',
          '0011-device-credentials',
          '0013-replicas-and-leases',
          '0014-registration-security',
          '0015-device-owner',
          '0016-update-verifying',
          '0017-admitted-at',
          '0018-gate-checks',
          '0020-manifests-status',
          '0021-notifications',
          '0022-git-sync-status',
          '0023-work-signal',
          '0024-commits',
          '0025-notifiable-git-sync',
          '0026-device-commands',
          '0027-error-code-followed',
          '0028-hot-transitions',
        ],
      });
      const tables = (await store.db.introspection.getTables()).map((t) => t.name);
      expect(tables).toEqual(
        expect.arrayContaining([
          'devices',
          'firmware_updates',
          'rollouts',
          'events',
          'replicas',
          'leases',
          'rollout_gate_checks',
          'git_sync_status',
          'commits',
          'device_commands',
        ]),
      );
    } finally {
      await store.close();
    }
  });

  it('are idempotent on a migrated database', async () => {
    const store = await backend.open();
    try {
      const again = await migrateToLatest(store.db, schemaOf(store.spec));
      expect(again).toEqual({ ok: true, applied: [] });
    } finally {
      await store.close();
    }
  });

  it('index events by rollout only for events of a rollout, and still find them by it', async () => {
    const store = await backend.open();
    try {
      await store.db
        .insertInto('events')
        .values([
          { type: 'DeviceRegistered', message: 'a device event', endpoint: 'dev-1' },
          { type: 'UpdateStarted', message: 'a rollout event', endpoint: 'dev-1', rollout: 'canary' },
        ])
        .execute();
      const index = await sql<{ def: string }>`
        select pg_get_indexdef(indexrelid) as def from pg_index
        where indexrelid = 'events_rollout'::regclass`.execute(store.db);
      expect(index.rows[0]?.def).toMatch(/WHERE \(rollout IS NOT NULL\)/);
      await sql`set enable_seqscan = off`.execute(store.db);
      const plan = await sql<{ 'QUERY PLAN': string }>`
        explain select id from events where rollout = ${'canary'} order by id`.execute(store.db);
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('events_rollout');
      const found = await store.db
        .selectFrom('events')
        .select('message')
        .where('rollout', '=', 'canary')
        .execute();
      expect(found.map((r) => r.message)).toEqual(['a rollout event']);
    } finally {
      await store.close();
    }
  });

  it('index every event type a Notification may ask for (events_notifiable)', async () => {
    const store = await backend.open();
    try {
      const index = await sql<{ def: string }>`
        select pg_get_indexdef(indexrelid) as def from pg_index
        where indexrelid = 'events_notifiable'::regclass`.execute(store.db);
      const listed = [...(index.rows[0]?.def ?? '').matchAll(/'(\w+)'::text/g)].map((m) => m[1]);
      expect(listed.sort()).toEqual([...NOTIFICATION_EVENTS].sort());
    } finally {
      await store.close();
    }
  });

  it('make the events table append-only', async () => {
    const store = await backend.open();
    try {
      await store.db.insertInto('events').values({ type: 'test', message: 'x' }).execute();
      await expect(sql`update events set message = 'y'`.execute(store.db)).rejects.toThrow(/append-only/);
      await expect(sql`delete from events`.execute(store.db)).rejects.toThrow(/append-only/);
    } finally {
      await store.close();
    }
  });
});

function schemaOf(spec: { kind: string; schema?: string }): string | undefined {
  return spec.kind === 'postgres' ? spec.schema : undefined;
}
