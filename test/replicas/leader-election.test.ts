import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acquireLease,
  type Fence,
  fencedWrite,
  LeaderElector,
  type LeaseTiming,
  readLease,
} from '../../controller/replicas/index.js';
import { type OpenDatabase, openDatabase } from '../../controller/store/index.js';
import { TEST_DATABASE_URL, testBackends } from '../helpers/databases.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../reliability/harness/wait-for.js';

/** Short leases (the database clock is real): 2 s, stop leading after 1.2 s without a renewal. */
const TIMING: LeaseTiming = { durationMs: 2_000, renewDeadlineMs: 1_200, retryMs: 150 };

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function elector(db: OpenDatabase['db'], holder: string, extra: { exclusive?: boolean } = {}): LeaderElector {
  const e = new LeaderElector({ db, holder, timing: TIMING, ...extra });
  cleanup.push(() => e.stop());
  return e;
}

function leading(e: LeaderElector): Promise<Fence> {
  const now = e.current();
  return now ? Promise.resolve(now) : new Promise((resolve) => e.once('leading', resolve));
}

/** A test event row: what a write leaves behind. */
async function insertEvent(db: OpenDatabase['db'], message: string): Promise<void> {
  await db
    .insertInto('events')
    .values({ rollout: null, endpoint: null, update_id: null, type: 'T', message, git_revision: null })
    .execute();
}

/** An event row written under `fence`, to see whether a fenced write went through. */
function writeEvent(db: OpenDatabase['db'], fence: Fence) {
  return fencedWrite(db, fence, (trx) => insertEvent(trx, `epoch ${fence.epoch}`));
}

/** Resolves once the planner lease has expired by the database clock. */
function leaseExpired(store: OpenDatabase): Promise<true> {
  return waitFor(
    'the lease to expire',
    async () => (((await readLease(store.db, 'planner'))?.remainingMs ?? 1) <= 0 ? true : undefined),
    { intervalMs: 50 },
  );
}

async function eventMessages(db: OpenDatabase['db']): Promise<string[]> {
  const rows = await db
    .selectFrom('events')
    .select('message')
    .where('type', '=', 'T')
    .orderBy('id')
    .execute();
  return rows.map((r) => r.message);
}

describe.each(testBackends)('planner lease on $name', (backend) => {
  it('a lone replica leads from its start, with epoch 1', async () => {
    const store = await backend.open();
    cleanup.push(() => store.close());
    const only = elector(store.db, 'only');
    await only.start();
    expect(only.current()).toEqual({ lease: 'planner', holder: 'only', epoch: 1 });
    expect(await readLease(store.db, 'planner')).toMatchObject({ holder: 'only', epoch: 1 });
  });

  it('a replica alone on its database (as on PGlite) takes the lease of a killed predecessor at once', async () => {
    const store = await backend.open();
    cleanup.push(() => store.close());
    // The predecessor's lease runs for a minute; it never released it (SIGKILL).
    expect(await acquireLease(store.db, 'planner', 'killed', 60_000)).toBe(1);
    const next = elector(store.db, 'next', { exclusive: true });
    await next.start();
    expect(next.current()?.epoch).toBe(2);
    expect(await writeEvent(store.db, { lease: 'planner', holder: 'killed', epoch: 1 })).toEqual({
      kind: 'refused',
    });
  });

  it("refuses a stale leader's write: it holds epoch n while another acquired n+1", async () => {
    const store = await backend.open();
    cleanup.push(() => store.close());
    const stale: Fence = {
      lease: 'planner',
      holder: 'a',
      epoch: (await acquireLease(store.db, 'planner', 'a', 200))!,
    };
    expect(await writeEvent(store.db, stale)).toMatchObject({ kind: 'written' });
    await leaseExpired(store);
    const epoch = await acquireLease(store.db, 'planner', 'b', 60_000);
    expect(epoch).toBe(stale.epoch + 1);
    expect(await writeEvent(store.db, stale)).toEqual({ kind: 'refused' });
    expect(await writeEvent(store.db, { lease: 'planner', holder: 'b', epoch: epoch! })).toMatchObject({
      kind: 'written',
    });
    expect(await eventMessages(store.db)).toEqual([`epoch ${stale.epoch}`, `epoch ${epoch}`]);
  });

  it('a leader whose renewals fail for a moment is failing, and no longer once a renewal succeeds', async () => {
    const store = await backend.open();
    cleanup.push(() => store.close());
    // A renew deadline long enough that the failing renewals never make it step down.
    const leader = new LeaderElector({
      db: store.db,
      holder: 'a',
      timing: { durationMs: 60_000, renewDeadlineMs: 30_000, retryMs: 50 },
    });
    cleanup.push(() => leader.stop());
    await leader.start();
    expect(leader.failing).toBe(false);

    // Renewals fail at once while the table is away (as when the database refuses queries).
    await sql`alter table leases rename to leases_away`.execute(store.db);
    await waitFor('a failed renewal', () => (leader.failing ? true : undefined), { intervalMs: 10 });
    await sql`alter table leases_away rename to leases`.execute(store.db);
    await waitFor('a successful renewal', () => (leader.failing ? undefined : true), { intervalMs: 10 });
    expect(leader.current()).toEqual({ lease: 'planner', holder: 'a', epoch: 1 });
  });
});

/** A second pool on the same database and schema: another replica's connections. */
async function secondPool(store: OpenDatabase, url = TEST_DATABASE_URL!): Promise<OpenDatabase> {
  const spec = store.spec;
  if (spec.kind !== 'postgres') throw new Error('replicas need Postgres');
  const other = await openDatabase(
    { kind: 'postgres', url, ...(spec.schema ? { schema: spec.schema } : {}) },
    {
      migrate: false,
      poolSize: 3,
    },
  );
  cleanup.push(() => other.close());
  return other;
}

const postgres = testBackends.find((b) => b.name === 'postgres');

describe.skipIf(postgres === undefined)('replicas on one Postgres', () => {
  async function twoReplicas(options: { proxyA?: boolean } = {}) {
    const store = await postgres!.open();
    cleanup.push(() => store.close());
    let proxy: TcpProxy | undefined;
    let urlA = TEST_DATABASE_URL!;
    if (options.proxyA) {
      const target = new URL(TEST_DATABASE_URL!);
      proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
      cleanup.push(() => proxy!.close());
      target.port = String(proxy.port);
      urlA = target.toString();
    }
    const poolA = await secondPool(store, urlA);
    const poolB = await secondPool(store);
    return { store, proxy, a: elector(poolA.db, 'a'), b: elector(poolB.db, 'b') };
  }

  /** Two more pools, A's and B's; A holds a 300 ms lease. */
  async function shortLeaseOfA() {
    const { store } = await twoReplicas();
    const poolA = await secondPool(store);
    const poolB = await secondPool(store);
    const fenceA: Fence = {
      lease: 'planner',
      holder: 'a',
      epoch: (await acquireLease(poolA.db, 'planner', 'a', 300))!,
    };
    return { store, poolA, poolB, fenceA };
  }

  it('two replicas compete for the lease: exactly one leads, and keeps it while it renews', async () => {
    const { store, a, b } = await twoReplicas();
    await Promise.all([a.start(), b.start()]);
    const leaders = [a, b].filter((e) => e.current() !== undefined);
    expect(leaders).toHaveLength(1);
    const [leader] = leaders;
    const follower = leader === a ? b : a;
    // Several renewals later (each moves renewed_at), the same holder at the same epoch.
    const renewedAt = async () =>
      (
        await store.db.selectFrom('leases').select('renewed_at').executeTakeFirstOrThrow()
      ).renewed_at.getTime();
    const first = await renewedAt();
    await waitFor(
      'three renewals',
      async () => ((await renewedAt()) >= first + 3 * TIMING.retryMs ? true : undefined),
      {
        intervalMs: 50,
      },
    );
    expect(await readLease(store.db, 'planner')).toMatchObject({ holder: leader!.holder, epoch: 1 });
    expect(leader!.current()?.epoch).toBe(1);
    expect(follower.current()).toBeUndefined();
    expect(follower.failing).toBe(false);
  });

  it('a leader that stops releases the lease: the other takes over with epoch + 1', async () => {
    const { a, b } = await twoReplicas();
    await a.start();
    await b.start();
    expect(a.current()?.epoch).toBe(1);
    const takeover = leading(b);
    await a.stop();
    expect(a.current()).toBeUndefined();
    expect(await takeover).toEqual({ lease: 'planner', holder: 'b', epoch: 2 });
  });

  it('a leader cut off from Postgres stops leading before its lease expires; the other takes over', async () => {
    const { store, proxy, a, b } = await twoReplicas({ proxyA: true });
    await a.start();
    await b.start();
    const fenceA = a.current()!;
    expect(fenceA.epoch).toBe(1);

    const steppedDown = new Promise<{ why: string }>((resolve) => a.once('stopped', resolve));
    const takeover = leading(b);
    proxy!.partition();
    expect((await steppedDown).why).toBe('renew-deadline');
    // A stopped acting as leader while its lease still runs for everyone else.
    const lease = await readLease(store.db, 'planner');
    expect(lease).toMatchObject({ holder: 'a', epoch: 1 });
    expect(lease!.remainingMs).toBeGreaterThan(0);
    expect(a.current()).toBeUndefined();

    expect(await takeover).toEqual({ lease: 'planner', holder: 'b', epoch: 2 });
    proxy!.heal();
    // Back on the network, A resumes as a follower, and its old fence writes nothing.
    await waitFor('A to reach the lease again', () => (a.failing ? undefined : true), { intervalMs: 50 });
    expect(a.current()).toBeUndefined();
    expect(b.current()?.epoch).toBe(2);
    expect(await writeEvent(store.db, fenceA)).toEqual({ kind: 'refused' });
  });

  it('a takeover waits for the fenced transaction in flight, which commits first', async () => {
    const { store, poolA, poolB, fenceA } = await shortLeaseOfA();
    const order: string[] = [];
    let takeover: Promise<number | undefined> | undefined;
    const written = await fencedWrite(poolA.db, fenceA, async (trx) => {
      // The lease expires while A's transaction is open; B tries to take it over.
      takeover = (async () => {
        await leaseExpired(store);
        const epoch = await acquireLease(poolB.db, 'planner', 'b', 60_000);
        order.push('b acquired');
        return epoch;
      })();
      // A's transaction stays busy (not idle: see the next test) until B waits for the lease row.
      await sql`do $$ begin
        while not exists (select 1 from pg_stat_activity
            where wait_event_type = 'Lock' and query like '%insert into leases%') loop
          perform pg_stat_clear_snapshot();
          perform pg_sleep(0.02);
        end loop;
      end $$`.execute(trx);
      await insertEvent(trx, 'a');
      order.push('a wrote');
    });
    expect(written.kind).toBe('written');
    expect(await takeover).toBe(fenceA.epoch + 1);
    expect(order).toEqual(['a wrote', 'b acquired']);
    expect(await writeEvent(poolA.db, fenceA)).toEqual({ kind: 'refused' });
  });

  it('a fenced transaction left idle past its lease (a leader cut off mid-write) is ended by the database: the takeover does not wait for it', async () => {
    const { store, poolA, poolB, fenceA } = await shortLeaseOfA();
    let takeover: Promise<number | undefined> | undefined;
    const written = fencedWrite(poolA.db, fenceA, async (trx) => {
      // A's client sends nothing more until B holds the lease, which needs A's lock on its row gone.
      takeover = leaseExpired(store).then(() => acquireLease(poolB.db, 'planner', 'b', 60_000));
      await takeover;
      await insertEvent(trx, 'a');
    });
    await expect(written).rejects.toThrow();
    expect(await takeover).toBe(fenceA.epoch + 1);
    expect(await eventMessages(store.db)).toEqual([]);
  });
});
