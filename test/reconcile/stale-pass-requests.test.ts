import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceOps } from '../../controller/app/device-ops.js';
import type { DeviceSyncPart } from '../../controller/app/device-sync-part.js';
import type { Lwm2mPart } from '../../controller/app/lwm2m-part.js';
import { createMetrics } from '../../controller/metrics/index.js';
import type { UpdateIntent } from '../../controller/reconcile/plan/plan-update.js';
import { CommandClaims } from '../../controller/reconcile/run/command-claims.js';
import { reconcileUpdates } from '../../controller/reconcile/run/update-pass.js';
import { UpdateWorkQueue } from '../../controller/reconcile/run/update-work-queue.js';
import type { DeviceOps } from '../../controller/reconcile/write/device-ops.js';
import { DEFAULT_TIMEOUTS, type ExecutorDeps } from '../../controller/reconcile/write/executor.js';
import { TransitionWriter } from '../../controller/reconcile/write/transition-writer.js';
import type { SimDevice } from '../../controller/sim/index.js';
import type { ActivePhase } from '../../controller/store/index.js';
import { isInfo, isState, NEW, type SyncEnv, startEnv, startImageServer } from '../devices/helpers.js';
import { testBackends } from '../helpers/databases.js';
import { insertUpdateRow } from '../helpers/update-rows.js';

const HOUR = 3_600_000;
const INTENTS: ReadonlyMap<string, UpdateIntent> = new Map([
  ['r', { targetVersion: NEW, executeAllowed: true }],
]);

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The reconciler's device requests over the real LwM2M server: the controller's own (app/device-ops.ts). */
function serverOps(env: SyncEnv): DeviceOps {
  return deviceOps(
    { server: env.server } as Lwm2mPart,
    { sync: env.sync } as DeviceSyncPart,
    createMetrics(),
  );
}

/** Holds the results of the statements run through it (they have run) until `open`. */
class HeldResults implements KyselyPlugin {
  readonly #ran = deferred();
  readonly #gate = deferred();
  /** Resolves once a statement ran (its result is held). */
  readonly ran = this.#ran.promise;

  open(): void {
    this.#gate.resolve();
  }

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.#ran.resolve();
    await this.#gate.promise;
    return args.result;
  }
}

describe.each(testBackends)('device requests of passes over a real device on $name', (backend) => {
  let env: SyncEnv;
  let images: Awaited<ReturnType<typeof startImageServer>>;

  beforeAll(async () => {
    images = await startImageServer();
    env = await startEnv(backend);
  });

  afterAll(async () => {
    await env?.close();
    await images?.close();
  });

  async function registeredDevice(): Promise<SimDevice> {
    const device = env.device();
    const since = env.changes.length;
    await device.start();
    await env.changes.waitFor(device.endpoint, isInfo, since);
    return device;
  }

  async function insertUpdate(
    endpoint: string,
    phase: ActivePhase,
    columns: Partial<Record<'uri_written_at' | 'downloaded_at' | 'deadline_at', Date | null>> = {},
  ): Promise<number> {
    return insertUpdateRow(env.db.db, endpoint, {
      target_version: NEW,
      phase,
      created_at: new Date(env.clock.now),
      phase_changed_at: new Date(env.clock.now),
      deadline_at: new Date(env.clock.now + HOUR),
      ...columns,
    });
  }

  async function updateRow(id: number) {
    return env.db.db
      .selectFrom('firmware_updates')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  }

  async function eventTypes(id: number): Promise<string[]> {
    const rows = await env.db.db
      .selectFrom('events')
      .select('type')
      .where('update_id', '=', id)
      .orderBy('id')
      .execute();
    return rows.map((r) => r.type);
  }

  function depsOf(ops: DeviceOps, db = env.db.db): ExecutorDeps {
    return {
      db,
      ops,
      packageUri: () => ({ ok: true, uri: `${images.baseUrl}/fw/good` }),
      clock: () => env.clock.now,
      timeoutsOf: () => DEFAULT_TIMEOUTS,
    };
  }

  // A read that overlaps a move needs a second connection: PGlite has one, and the read held
  // here would hold it (Kysely keeps the connection until a plugin has the result).
  it.skipIf(backend.name === 'pglite')(
    'a pass whose read began before a Package URI write settled does not write it again',
    async () => {
      const device = await registeredDevice();
      const id = await insertUpdate(device.endpoint, 'pending');
      const db = env.db.db;
      const real = serverOps(env);
      // The first write is answered by the device, then held before the task records it.
      const firstAnswered = deferred();
      const releaseFirst = deferred();
      let writes = 0;
      const ops: DeviceOps = {
        ...real,
        writePackageUri: async (endpoint, uri) => {
          const result = await real.writePackageUri(endpoint, uri);
          if (++writes === 1) {
            firstAnswered.resolve();
            await releaseFirst.promise;
          }
          return result;
        },
      };
      const work = new UpdateWorkQueue(
        8,
        () => {},
        (error) => {
          throw error;
        },
      );
      const options = {
        pollQuietMs: HOUR,
        concurrency: 8,
        work,
        transitions: new TransitionWriter(db),
        commands: new CommandClaims({ db, ownership: { replicaId: 'local', goneAfterMs: 0, sole: true } }),
      };
      const downloaded = env.changes.waitFor(device.endpoint, isState(2), env.changes.length);

      await reconcileUpdates(depsOf(ops), INTENTS, env.clock.now, options);
      await firstAnswered.promise;
      expect(device.packageUriWrites).toBe(1);
      // A second pass reads the update while it is still pending (its write not recorded yet), and
      // gets that row only after the write's task moved it to downloading and settled.
      const held = new HeldResults();
      const second = reconcileUpdates(depsOf(ops, db.withPlugin(held)), INTENTS, env.clock.now, options);
      await held.ran;
      releaseFirst.resolve();
      await work.drain();
      expect((await updateRow(id)).phase).toBe('downloading');
      held.open();
      await second;
      await work.drain();
      await downloaded;

      // One write reached the device: its download was not restarted by a plan made from the old row.
      expect(device.packageUriWrites).toBe(1);
      expect(writes).toBe(1);
      expect(await eventTypes(id)).toEqual(['PackageUriWritten']);
      // The next pass reads the row as it is and goes on.
      await reconcileUpdates(depsOf(ops), INTENTS, env.clock.now, options);
      await work.drain();
      expect((await updateRow(id)).phase).toBe('updating');
      expect([device.packageUriWrites, device.updateExecutes]).toEqual([1, 1]);
    },
  );

  it('an Execute refused with 4.05 by a device downloading again waits for Downloaded, then executes', async () => {
    const device = await registeredDevice();
    const client = env.server.device(device.endpoint);
    // The device downloaded the package and said so; then its download restarted (a second write).
    let since = env.changes.length;
    expect((await client.write('/5/0/1', `${images.baseUrl}/fw/good`)).kind).toBe('ok');
    await env.changes.waitFor(device.endpoint, isState(2), since);
    const id = await insertUpdate(device.endpoint, 'downloaded', {
      uri_written_at: new Date(env.clock.now - 1000),
      downloaded_at: new Date(env.clock.now),
      deadline_at: null,
    });
    expect((await client.write('/5/0/1', `${images.baseUrl}/hang`)).kind).toBe('ok');
    const deps = depsOf(serverOps(env));
    const options = { pollQuietMs: HOUR, concurrency: 8 };

    await reconcileUpdates(deps, INTENTS, env.clock.now, options);
    expect(device.updateExecutes).toBe(1);
    let row = await updateRow(id);
    // Not failed into a retry: back to waiting for the download, with the deadline Execute set.
    expect([row.phase, row.finished_at, row.executed_at]).toEqual(['downloading', null, null]);
    expect(row.deadline_at?.getTime()).toBe(env.clock.now + DEFAULT_TIMEOUTS.updateMs);
    expect(await eventTypes(id)).toEqual(['UpdateExecuted', 'UpdateExecuteRefused']);

    // Still downloading: nothing is sent.
    await reconcileUpdates(deps, INTENTS, env.clock.now, options);
    expect([device.updateExecutes, device.packageUriWrites]).toEqual([1, 2]);

    // The restarted download ends (the device is given a package that arrives): Execute again.
    since = env.changes.length;
    expect((await client.write('/5/0/1', `${images.baseUrl}/fw/good`)).kind).toBe('ok');
    await env.changes.waitFor(device.endpoint, isState(2), since);
    await reconcileUpdates(deps, INTENTS, env.clock.now, options);
    row = await updateRow(id);
    expect(row.phase).toBe('updating');
    expect(device.updateExecutes).toBe(2);
    expect(await eventTypes(id)).toEqual([
      'UpdateExecuted',
      'UpdateExecuteRefused',
      'DownloadCompleted',
      'UpdateExecuted',
    ]);
  });
});
