import { afterEach, describe, expect, it } from 'vitest';
import type { ChangeResult } from '../../controller/lwm2m/index.js';
import { loadRolloutObservation, UNREAD_WAIT_MS } from '../../controller/reconcile/read/load-observation.js';
import { reconcilePass } from '../../controller/reconcile/run/reconcile-pass.js';
import type { DeviceOps } from '../../controller/reconcile/write/device-ops.js';
import { DEFAULT_TIMEOUTS, type ExecutorDeps } from '../../controller/reconcile/write/executor.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import { desiredStateOf, resolvedRollout } from '../helpers/resolved-rollout.js';

/**
 * Device sync stores object 3 first and the firmware State (5/0/3) in a later write. A device
 * between the two is not started: it could still be downloading or installing an earlier package.
 */

const WITH_FIRMWARE = '</1/0>,</3/0>,</5/0>';
const rollout = resolvedRollout();
const desired = desiredStateOf(rollout);
const options = { pollQuietMs: 60_000, concurrency: 4 };

/** Device requests that always succeed, in order, as `endpoint method [uri]`. */
function recordingOps(): DeviceOps & { requests: string[] } {
  const ok: ChangeResult = { kind: 'ok', code: '2.04' };
  const ops = {
    requests: [] as string[],
    writePackageUri: async (endpoint: string, uri: string) => {
      ops.requests.push(`${endpoint} write ${uri === '' ? '(empty)' : 'uri'}`);
      return ok;
    },
    executeUpdate: async (endpoint: string) => {
      ops.requests.push(`${endpoint} execute`);
      return ok;
    },
    cancelUpdate: async (endpoint: string) => {
      ops.requests.push(`${endpoint} cancel`);
      return ok;
    },
    pollFirmwareState: async () => undefined,
    readFirmwareVersion: async () => {},
    readErrorCode: async () => {},
  };
  return ops;
}

function depsOf(db: OpenDatabase['db'], ops: DeviceOps, clock: () => number): ExecutorDeps {
  return {
    db,
    ops,
    packageUri: () => ({ ok: true, uri: 'http://127.0.0.1/fw.bin' }),
    clock,
    timeoutsOf: () => DEFAULT_TIMEOUTS,
  };
}

/** A device that just registered and whose object 3 is stored: its State is not, yet. */
async function registeredAndRead(
  db: OpenDatabase['db'],
  endpoint: string,
  now: number,
  links = WITH_FIRMWARE,
): Promise<void> {
  await db
    .insertInto('devices')
    .values({
      endpoint,
      registration_state: 'registered',
      registered_at: new Date(now - 1_000),
      object_links: links,
      firmware_version: '1.0.0',
      info_read_at: new Date(now - 500),
      updated_at: new Date(now - 500),
    })
    .execute();
}

/** What device sync writes once the observation of 5/0/3 and 5/0/5 answers. */
async function stateStored(db: OpenDatabase['db'], endpoint: string, state: number, at: number) {
  await db
    .updateTable('devices')
    .set({ fw_state: state, fw_result: 0, fw_reported_at: new Date(at), updated_at: new Date(at) })
    .where('endpoint', '=', endpoint)
    .execute();
}

async function rolloutOf(db: OpenDatabase['db']) {
  return db.selectFrom('rollouts').select(['phase', 'counts']).executeTakeFirstOrThrow();
}

async function updatesOf(db: OpenDatabase['db']) {
  return db.selectFrom('firmware_updates').select(['endpoint', 'phase', 'reset_at']).orderBy('id').execute();
}

describe.each(testBackends)('admitting a device once its firmware State is stored, on $name', (backend) => {
  let store: OpenDatabase | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  /** `dev-1` registered and read, its State not stored yet; passes run at `clock.now`, which the test moves. */
  async function withDeviceRead() {
    store = await backend.open();
    const { db } = store;
    const clock = { now: Date.now() };
    const ops = recordingOps();
    const deps = depsOf(db, ops, () => clock.now);
    await registeredAndRead(db, 'dev-1', clock.now);
    return { db, clock, ops, pass: () => reconcilePass(deps, desired, options) };
  }

  it('does not start a device whose State is not stored yet, and starts it once its Idle is', async () => {
    const { db, clock, ops, pass } = await withDeviceRead();
    // Without the firmware object there is no State to wait for: started as before.
    await registeredAndRead(db, 'dev-2', clock.now, '</1/0>,</3/0>');

    await pass();
    expect((await updatesOf(db)).map((u) => u.endpoint)).toEqual(['dev-2']);
    const waiting = await loadRolloutObservation(db, rollout, [], clock.now);
    expect(waiting.counts).toMatchObject({ selected: 2, pending: 1, inFlight: 1, stateUnread: 1 });
    expect(waiting.stateUnreadUntil).toBe(clock.now - 1_000 + UNREAD_WAIT_MS);
    expect((await rolloutOf(db)).counts).toMatchObject({ stateUnread: 1, stateUnreadSkipped: 0 });
    expect(ops.requests).not.toContain('dev-1 write uri');

    clock.now += 1_000;
    await stateStored(db, 'dev-1', 0, clock.now);
    clock.now += 1_000;
    await pass();
    await pass();
    expect((await updatesOf(db)).map((u) => u.endpoint)).toEqual(['dev-2', 'dev-1']);
    expect(ops.requests.filter((r) => r.startsWith('dev-1'))).toEqual(['dev-1 write uri']);
    const started = await loadRolloutObservation(db, rollout, [], clock.now);
    expect(started.counts).toMatchObject({ inFlight: 2, stateUnread: 0 });
    expect(started.stateUnreadUntil).toBeNull();
  });

  it('resets a device whose State arrives as Downloading before its update, then writes the URI', async () => {
    const { db, clock, ops, pass } = await withDeviceRead();
    await pass();
    expect(await updatesOf(db)).toEqual([]);

    // Still downloading a package some earlier attempt sent: reported before this update began.
    clock.now += 1_000;
    await stateStored(db, 'dev-1', 1, clock.now);
    clock.now += 1_000;
    await pass();
    await pass();
    expect(await updatesOf(db)).toMatchObject([{ endpoint: 'dev-1', phase: 'pending' }]);
    expect((await updatesOf(db))[0]!.reset_at).not.toBeNull();
    // Version 1.0 of object 5 has no Cancel: the reset is an empty Package URI, and no URI follows it yet.
    expect(ops.requests).toEqual(['dev-1 write (empty)']);
    const reset = await db
      .selectFrom('events')
      .select('message')
      .where('type', '=', 'DeviceReset')
      .executeTakeFirstOrThrow();
    expect(reset.message).toMatch(
      /^reset to Idle before writing the Package URI \(empty Package URI 5\/0\/1\): the device reports State 1 downloading, Result 0 /,
    );

    // Back to Idle since the reset: the URI goes out.
    clock.now += 1_000;
    await stateStored(db, 'dev-1', 0, clock.now);
    await pass();
    expect(ops.requests).toEqual(['dev-1 write (empty)', 'dev-1 write uri']);
  });

  it('stops waiting for a State that never comes, and admits the device if it reports one later', async () => {
    const { db, clock, pass } = await withDeviceRead();
    await pass();
    expect((await rolloutOf(db)).phase).toBe('Progressing');

    // Silent on the observation, or an answer without 5/0/3: skipped after the wait, not started.
    clock.now += UNREAD_WAIT_MS;
    await pass();
    expect(await rolloutOf(db)).toMatchObject({
      phase: 'Degraded',
      counts: {
        selected: 1,
        pending: 0,
        stateUnread: 0,
        stateUnreadSkipped: 1,
        message: '0 of 1 devices on 2.0.0; 1 never reported a firmware State (5/0/3)',
      },
    });
    expect(await updatesOf(db)).toEqual([]);

    // It answers at last: an Idle stored makes it eligible again.
    clock.now += 1_000;
    await stateStored(db, 'dev-1', 0, clock.now);
    await pass();
    expect((await updatesOf(db)).map((u) => u.endpoint)).toEqual(['dev-1']);
  });
});
