import { describe, expect, it } from 'vitest';
import type { DesiredState } from '../../controller/manifests/index.js';
import { DEFAULT_TIMEOUTS, type ExecutorDeps } from '../../controller/reconcile/executor.js';
import type { PassResult } from '../../controller/reconcile/reconcile-pass.js';
import { Reconciler } from '../../controller/reconcile/reconciler.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { closedWindowDesiredState } from '../helpers/closed-window-rollout.js';
import { testBackends } from '../helpers/databases.js';

const TARGET = '2.0.0';
const HOUR = 3_600_000;

/** dev-0..dev-(n-1), each downloading rollout `r` and reporting State 2 after the URI was written. */
async function seed(store: OpenDatabase, n: number, now: number): Promise<void> {
  const devices = await store.db
    .insertInto('devices')
    .values(
      Array.from({ length: n }, (_, i) => ({
        endpoint: `dev-${i}`,
        registration_state: 'registered' as const,
        registered_at: new Date(now - HOUR),
        firmware_version: '1.0.0',
        info_read_at: new Date(now - HOUR),
        fw_state: 1,
        fw_result: 0,
        fw_reported_at: new Date(now - 50_000),
        updated_at: new Date(now),
      })),
    )
    .returning(['id', 'endpoint'])
    .execute();
  await store.db
    .insertInto('firmware_updates')
    .values(
      devices.map((d) => ({
        device_id: d.id,
        endpoint: d.endpoint,
        rollout: 'r',
        firmware: 'fw',
        target_version: TARGET,
        attempt: 1,
        phase: 'downloading',
        package_uri: 'http://127.0.0.1/fw.bin',
        phase_changed_at: new Date(now - 60_000),
        uri_written_at: new Date(now - 60_000),
        deadline_at: new Date(now + HOUR),
      })),
    )
    .execute();
}

/** The devices report Downloaded (what device sync writes for a 5/0/3 notification). */
async function reportDownloaded(store: OpenDatabase, endpoints: string[], at: number): Promise<void> {
  await store.db
    .updateTable('devices')
    .set({ fw_state: 2, fw_reported_at: new Date(at) })
    .where('endpoint', 'in', endpoints)
    .execute();
}

async function phases(store: OpenDatabase): Promise<string[]> {
  const rows = await store.db.selectFrom('firmware_updates').select('phase').orderBy('endpoint').execute();
  return rows.map((r) => r.phase);
}

describe.each(testBackends)('what a reconciler pass looks at, on $name', (backend) => {
  it('looks at the update of a device that reported something, and at all of them on a plain trigger', async () => {
    const store = await backend.open();
    const now = Date.now();
    const deps: ExecutorDeps = {
      db: store.db,
      ops: {
        writePackageUri: async () => ({ kind: 'ok', code: '2.04' }),
        executeUpdate: async () => ({ kind: 'ok', code: '2.04' }),
        pollFirmwareState: async () => {},
        readFirmwareVersion: async () => {},
      },
      packageUri: () => ({ ok: true, uri: 'http://127.0.0.1/fw.bin' }),
      clock: () => now,
      timeoutsOf: () => DEFAULT_TIMEOUTS,
    };
    // Timed passes every minute only: every pass here is one a trigger asked for.
    const reconciler = new Reconciler(deps, () => desired, { intervalMs: 60_000, pollQuietMs: HOUR });
    const nextPass = () => new Promise<PassResult>((resolve) => reconciler.once('pass', resolve));
    try {
      await seed(store, 3, now);
      let pass = nextPass();
      reconciler.start();
      expect(await pass).toMatchObject({ scope: 'all', actions: 0 });

      // Two devices report Downloaded, but only dev-1's change reaches the reconciler.
      await reportDownloaded(store, ['dev-1', 'dev-2'], now - 1_000);
      pass = nextPass();
      reconciler.trigger({ endpoint: 'dev-1' });
      expect(await pass).toMatchObject({ scope: 'changed', actions: 1 });
      expect(await phases(store)).toEqual(['downloading', 'downloaded', 'downloading']);

      // The timer's kind of trigger looks at every active update.
      pass = nextPass();
      reconciler.trigger();
      expect(await pass).toMatchObject({ scope: 'all' });
      expect(await phases(store)).toEqual(['downloading', 'downloaded', 'downloaded']);
    } finally {
      await reconciler.stop();
      await store.close();
    }
  });
});

const desired: DesiredState = closedWindowDesiredState(TARGET);
