import { describe, expect, it } from 'vitest';
import type { DesiredState } from '../../controller/manifests/index.js';
import type { PassResult } from '../../controller/reconcile/run/reconcile-pass.js';
import { Reconciler } from '../../controller/reconcile/run/reconciler.js';
import { DEFAULT_TIMEOUTS, type ExecutorDeps } from '../../controller/reconcile/write/executor.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { closedWindowDesiredState, seedActiveUpdates } from '../helpers/closed-window-rollout.js';
import { testBackends } from '../helpers/databases.js';

const TARGET = '2.0.0';
const HOUR = 3_600_000;

/** dev-0..dev-(n-1), each downloading rollout `r` and reporting State 1 (Downloading). */
async function seed(store: OpenDatabase, count: number, now: number): Promise<void> {
  await seedActiveUpdates(store, {
    count,
    target: TARGET,
    phase: 'downloading',
    now,
    fwState: 1,
    reportedAt: now - 50_000,
  });
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
        cancelUpdate: async () => ({ kind: 'ok', code: '2.04' }),
        pollFirmwareState: async () => undefined,
        readFirmwareVersion: async () => {},
        readErrorCode: async () => {},
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
