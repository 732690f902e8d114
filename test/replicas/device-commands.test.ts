import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpdateIntent } from '../../controller/reconcile/plan/plan-update.js';
import { CommandClaims } from '../../controller/reconcile/run/command-claims.js';
import { reconcileUpdates } from '../../controller/reconcile/run/update-pass.js';
import { UpdateWorkQueue } from '../../controller/reconcile/run/update-work-queue.js';
import { type CommandWanted, claimCommands } from '../../controller/reconcile/write/device-commands.js';
import type { DeviceOps } from '../../controller/reconcile/write/device-ops.js';
import { DEFAULT_TIMEOUTS } from '../../controller/reconcile/write/executor.js';
import { transitionUpdates } from '../../controller/reconcile/write/update-store.js';
import { listCommands } from '../../controller/replicas/command-view.js';
import type { DeviceOwnership } from '../../controller/replicas/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { seedActiveUpdates } from '../helpers/closed-window-rollout.js';
import { testBackends } from '../helpers/databases.js';

const A: DeviceOwnership = { replicaId: 'replica-a', goneAfterMs: 30_000 };
const B: DeviceOwnership = { replicaId: 'replica-b', goneAfterMs: 30_000 };
const CLAIM_MS = 60_000;

let store: OpenDatabase | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

/** Replicas a and b heartbeating; devices dev-0..dev-(n-1) of `owner`, each with a pending update. Returns the update ids. */
async function seed(n: number, owner: string | null = null): Promise<number[]> {
  const { db } = store!;
  await sql`insert into replicas (id, version) values ('replica-a', 'x'), ('replica-b', 'x')
    on conflict do nothing`.execute(db);
  const now = Date.now();
  const ids = await seedActiveUpdates(store!, {
    count: n,
    target: '2.0.0',
    phase: 'pending',
    now,
    fwState: 0,
    reportedAt: now,
  });
  await db.updateTable('devices').set({ owner_replica: owner }).execute();
  return ids;
}

const writes = (ids: readonly number[]): CommandWanted[] =>
  ids.map((updateId) => ({ updateId, kind: 'write-uri' }));

async function holders(db: OpenDatabase['db']): Promise<Map<number, string>> {
  const rows = await db.selectFrom('device_commands').select(['update_id', 'replica']).execute();
  return new Map(rows.map((r) => [Number(r.update_id), r.replica]));
}

describe.each(testBackends)('device commands on $name', (backend) => {
  it('two replicas claiming the same updates at once never both get one', async () => {
    store = await backend.open({ poolSize: 8 });
    const ids = await seed(200);
    const db = store.db;
    for (let round = 0; round < 5; round++) {
      // Half the rounds start from no claims, half from claims (of both) that expired: both race
      // to insert them, or to take them over.
      if (round % 2 === 0) await sql`delete from device_commands`.execute(db);
      else await sql`update device_commands set expires_at = claimed_at + interval '1 ms'`.execute(db);
      const [a, b, a2, b2] = await Promise.all([
        claimCommands(db, writes(ids), A, CLAIM_MS),
        claimCommands(db, writes([...ids].reverse()), B, CLAIM_MS),
        claimCommands(db, writes(ids), A, CLAIM_MS),
        claimCommands(db, writes(ids), B, CLAIM_MS),
      ]);
      const gotA = new Set([...a, ...a2]);
      const gotB = new Set([...b, ...b2]);
      expect([...gotA].filter((id) => gotB.has(id))).toEqual([]);
      const rows = await holders(db);
      expect(rows.size).toBe(ids.length);
      for (const id of gotA) expect(rows.get(id)).toBe('replica-a');
      for (const id of gotB) expect(rows.get(id)).toBe('replica-b');
      expect(gotA.size + gotB.size).toBe(ids.length);
    }
  });

  it("a live replica's claim is its own until it expires or the replica stops heartbeating", async () => {
    store = await backend.open();
    const db = store.db;
    const ids = await seed(3);
    expect([...(await claimCommands(db, writes(ids), B, CLAIM_MS))].sort()).toEqual(ids);
    // Held by live b: a gets none, b gets its own again (left from an earlier task).
    expect(await claimCommands(db, writes(ids), A, CLAIM_MS)).toEqual(new Set());
    expect(await claimCommands(db, writes(ids.slice(0, 1)), B, CLAIM_MS)).toEqual(new Set(ids.slice(0, 1)));

    // One claim expired: a takes that one over.
    await sql`update device_commands set expires_at = now() - interval '1 second', claimed_at = now() - interval '61 seconds'
      where update_id = ${ids[1]}`.execute(db);
    expect(await claimCommands(db, writes(ids), A, CLAIM_MS)).toEqual(new Set([ids[1]]));

    // b stops heartbeating: a takes over the rest although they have not expired.
    await sql`update replicas set heartbeat_at = now() - interval '31 seconds' where id = 'replica-b'`.execute(
      db,
    );
    expect(await claimCommands(db, writes(ids), A, CLAIM_MS)).toEqual(new Set(ids));
    expect([...(await holders(db)).values()]).toEqual(['replica-a', 'replica-a', 'replica-a']);

    const view = await listCommands(db, 10);
    expect(view.total).toBe(3);
    expect(view.commands.map((c) => [c.endpoint, c.kind, c.replica, c.expired])).toEqual(
      ids.map((_, i) => [`dev-${i}`, 'write-uri', 'replica-a', false]),
    );
  });

  it('claims only for devices this replica may reach', async () => {
    store = await backend.open();
    const db = store.db;
    const ofB = await seed(2, 'replica-b');
    expect(await claimCommands(db, writes(ofB), A, CLAIM_MS)).toEqual(new Set());
    expect(await claimCommands(db, writes(ofB), B, CLAIM_MS)).toEqual(new Set(ofB));
  });

  it('the move that records a result deletes the claim in the same statement; the release deletes only its own', async () => {
    store = await backend.open();
    const db = store.db;
    const [first, second, third] = await seed(3);
    const claims = new CommandClaims({ db, ownership: A });
    const held = await claims.claim(writes([first!, second!, third!]));
    const move = (id: number, keepCommand: boolean) => ({
      id,
      from: ['pending' as const],
      phase: 'downloading' as const,
      phaseChangedAt: new Date(),
      changes: {},
      event: { type: 'PackageUriWritten', message: 'wrote' },
      ...(keepCommand ? { keepCommand } : {}),
    });
    expect(await transitionUpdates(db, [move(first!, false), move(second!, true)])).toEqual(
      new Set([first, second]),
    );
    expect([...(await holders(db)).keys()].sort()).toEqual([second, third].sort());

    // A session whose last move kept the claim gives it back at its end; another replica's stays.
    await sql`update device_commands set replica = 'replica-b' where update_id = ${third}`.execute(db);
    const session = held.open(second!, unusedOps, { move: async () => true });
    await session.end();
    await claims.release(third!);
    expect([...(await holders(db)).entries()]).toEqual([[third, 'replica-b']]);
  });

  it('a claim statement deletes expired claims of finished updates (their replica died holding them)', async () => {
    store = await backend.open();
    const db = store.db;
    const [done, other] = await seed(2);
    await claimCommands(db, writes([done!]), B, CLAIM_MS);
    await sql`update firmware_updates set phase = 'failed', finished_at = now(), failure_reason = 'x', retryable = false
      where id = ${done}`.execute(db);
    await claimCommands(db, writes([other!]), A, CLAIM_MS);
    expect([...(await holders(db)).keys()].sort()).toEqual([done, other].sort());
    await sql`update device_commands set expires_at = now() - interval '1 second', claimed_at = now() - interval '61 seconds'
      where update_id = ${done}`.execute(db);
    await new CommandClaims({ db, ownership: A }).claim([], true);
    expect([...(await holders(db)).keys()]).toEqual([other]);
  });
});

/** Device requests that fail the test, but for reads, which wait until the test answers them. */
function heldReads(): DeviceOps & { reads: number; read: Promise<void>; answer(): void } {
  const waiting: (() => void)[] = [];
  let readNow = () => {};
  const ops = {
    ...unusedOps,
    reads: 0,
    /** Resolves at the first read. */
    read: new Promise<void>((resolve) => {
      readNow = resolve;
    }),
    pollFirmwareState: () => {
      ops.reads++;
      readNow();
      return new Promise<undefined>((resolve) => waiting.push(() => resolve(undefined)));
    },
    answer: () => {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
  return ops;
}

describe.each(testBackends)('device commands of two replicas on $name', (backend) => {
  it("the new owner sends nothing for an update while the old owner's request is in flight", async () => {
    store = await backend.open();
    const { db } = store;
    const now = Date.now();
    await sql`insert into replicas (id, version) values ('replica-a', 'x'), ('replica-b', 'x')`.execute(db);
    // A download under way whose device has said nothing for a minute: the pass reads its state.
    await seedActiveUpdates(store, {
      count: 1,
      target: '2.0.0',
      phase: 'downloading',
      now,
      fwState: 1,
      reportedAt: now - 60_000,
    });
    const intents: ReadonlyMap<string, UpdateIntent> = new Map([
      ['r', { targetVersion: '2.0.0', executeAllowed: true }],
    ]);
    const replica = (ownership: DeviceOwnership) => {
      const ops = heldReads();
      const work = new UpdateWorkQueue(
        8,
        () => {},
        (error) => {
          throw error;
        },
      );
      const commands = new CommandClaims({ db, ownership });
      const pass = () =>
        reconcileUpdates(
          {
            db,
            ops,
            packageUri: () => ({ ok: true, uri: 'http://x/fw.bin' }),
            clock: () => now,
            timeoutsOf: () => DEFAULT_TIMEOUTS,
          },
          intents,
          now,
          { pollQuietMs: 30_000, concurrency: 8, work, ownership, commands },
        );
      return { ops, work, pass };
    };
    const a = replica(A);
    const b = replica(B);

    await a.pass();
    await a.ops.read;
    expect(a.ops.reads).toBe(1);
    expect((await listCommands(db, 10)).commands.map((c) => [c.endpoint, c.kind, c.replica])).toEqual([
      ['dev-0', 'read', 'replica-a'],
    ]);
    // The device re-registers with b while a's read is still waiting for its answer.
    await sql`update devices set owner_replica = 'replica-b'`.execute(db);
    await b.pass();
    await a.pass();
    // b's task found no claim and ended without a request (a's is still busy).
    await b.work.drain();
    expect([a.ops.reads, b.ops.reads]).toEqual([1, 0]);

    // a's read settles and gives the claim back: b's next pass reads, a's does nothing.
    a.ops.answer();
    await a.work.drain();
    expect(await holders(db)).toEqual(new Map());
    await a.pass();
    await b.pass();
    await b.ops.read;
    expect([a.ops.reads, b.ops.reads]).toEqual([1, 1]);
    expect([...(await holders(db)).values()]).toEqual(['replica-b']);
    b.ops.answer();
    await b.work.drain();
    expect(await holders(db)).toEqual(new Map());
  });
});

const unusedOps = {
  writePackageUri: () => Promise.reject(new Error('unused')),
  executeUpdate: () => Promise.reject(new Error('unused')),
  cancelUpdate: () => Promise.reject(new Error('unused')),
  pollFirmwareState: () => Promise.reject(new Error('unused')),
  readFirmwareVersion: () => Promise.reject(new Error('unused')),
  readErrorCode: () => Promise.reject(new Error('unused')),
};
