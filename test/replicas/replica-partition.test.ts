import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from '../helpers/databases.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { ControllerProcess } from '../reliability/harness/controller-process.js';
import { type ProcessDatabase, postgresProcessDatabase } from '../reliability/harness/databases.js';
import { freeTcpPort, freeUdpPort } from '../reliability/harness/free-port.js';
import { failOnCrash } from '../reliability/harness/process-scene.js';
import { type RolloutWorkspace, rolloutWorkspace } from '../reliability/harness/rollout-workspace.js';
import { waitFor } from '../reliability/harness/wait-for.js';

/**
 * The partition is 30 s against the default lease (15 s, renew deadline 10 s, retry 2 s):
 * two lease durations. Everything here is a fifth of that, so the test takes seconds: a 3 s
 * lease, a 2 s renew deadline, a 400 ms retry, and a 6 s partition.
 */
const LEASE_MS = 3_000;
const PARTITION_MS = 6_000;
const LEASE_ARGS = ['--lease-duration', '3s', '--lease-renew-deadline', '2s', '--lease-retry', '400ms'];

/**
 * Observation only: every committed statement on `rollouts` (the planner's status writes, one per
 * rollout per pass) with the replica that made it (each replica's connections carry its id as
 * application_name), and every state of the lease row.
 */
const AUDIT_SQL = `
  create table test_planner_writes (replica text not null, at timestamptz not null);
  create function test_planner_write() returns trigger language plpgsql as $$
  begin
    insert into test_planner_writes values (current_setting('application_name'), clock_timestamp());
    return null;
  end $$;
  create trigger test_planner_writes after insert or update on rollouts
    for each statement execute function test_planner_write();
  create table test_lease_history (holder text not null, epoch bigint not null, expires_at timestamptz not null);
  create function test_lease_change() returns trigger language plpgsql as $$
  begin
    insert into test_lease_history values (new.holder, new.epoch, new.expires_at);
    return null;
  end $$;
  create trigger test_lease_history after insert or update on leases
    for each row execute function test_lease_change();`;

/** `promise`, or a readable failure after `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe.skipIf(TEST_DATABASE_URL === undefined)(
  'a replica partitioned from Postgres (skipped without TEST_DATABASE_URL: PGlite is one process)',
  () => {
    let db: ProcessDatabase | undefined;
    let rollout: RolloutWorkspace | undefined;
    let proxy: TcpProxy | undefined;
    let client: pg.Client | undefined;
    const replicas: ControllerProcess[] = [];
    afterEach(async () => {
      for (const r of replicas.splice(0)) await r.kill('SIGKILL');
      await proxy?.close();
      await client?.end().catch(() => {});
      await db?.drop();
      await rollout?.ws.remove();
    });

    async function partitionTheLeader(cut: (proxy: TcpProxy) => Promise<void>): Promise<void> {
      db = await postgresProcessDatabase();
      const migrated = await db.open();
      await migrated.close();
      client = await db.client();
      await client.query(AUDIT_SQL);
      const query = async <R extends pg.QueryResultRow>(text: string) => (await client!.query<R>(text)).rows;
      const lease = async () =>
        (
          await query<{ holder: string; epoch: number; remaining_ms: number }>(
            `select holder, epoch::int, (extract(epoch from expires_at - now()) * 1000)::float8 as remaining_ms
             from leases where name = 'planner'`,
          )
        )[0];
      const writesBy = async (replica: string, since = 'to_timestamp(0)') =>
        (
          await query<{ n: number }>(
            `select count(*)::int as n from test_planner_writes where replica = '${replica}' and at > ${since}`,
          )
        )[0]!.n;

      // A rollout for the planner to write the status of at every pass (no device needed).
      rollout = await rolloutWorkspace({ prefix: 'part-', version: '2.0.0', maxInFlight: 5 });
      const target = new URL(db.spec);
      proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
      const proxied = new URL(db.spec);
      proxied.port = String(proxy.port);
      const start = async (id: string, url: string) => {
        const replica = await ControllerProcess.start({
          db: url,
          manifestsDir: rollout!.ws.manifestsDir,
          firmwareDir: rollout!.ws.firmwareDir,
          coapPort: await freeUdpPort(),
          httpPort: await freeTcpPort(),
          replicaId: id,
          extraArgs: LEASE_ARGS,
        });
        replicas.push(replica);
        return replica;
      };
      // A first: it takes the lease during its start. B reaches Postgres directly.
      const a = await start('a', proxied.toString());
      const b = await start('b', db.spec);
      const crashes = Promise.race(replicas.map((r) => failOnCrash(r, `${r.options.replicaId} died`)));
      const race = <T>(p: Promise<T>) => Promise.race([p, crashes]);
      expect(await lease()).toMatchObject({ holder: 'a', epoch: 1 });
      await race(
        waitFor('a planner write by A', async () => ((await writesBy('a')) > 0 ? true : undefined), {
          intervalMs: 50,
        }),
      );

      const stepDown = a.waitForLog((l) => l.msg === 'stopped acting as planner leader');
      await race(cut(proxy));
      const cutAt = performance.now();

      // 1. A stops acting as leader while its lease still runs for everyone else (it had at most
      // a lease duration left at the cut).
      const stopped = await race(within(LEASE_MS, 'A to stop acting as leader', stepDown));
      const held = await lease();
      expect(stopped.why).toBe('renew-deadline');
      expect(held).toMatchObject({ holder: 'a', epoch: 1 });
      expect(held!.remaining_ms).toBeGreaterThan(0);
      expect(held!.remaining_ms).toBeLessThanOrEqual(LEASE_MS);
      const notReady = await a.get('/readyz');
      expect(notReady.status).toBe(503);
      expect(((await notReady.json()) as { reasons: string[] }).reasons.join('; ')).toMatch(/database/);
      // Its lease attempts get no answer (no error either, in a black hole): once one has waited the
      // renew deadline, readiness names the lease too.
      await race(
        waitFor(
          "A's readiness to name the lease",
          async () => {
            const body = (await (await a.get('/readyz')).json()) as { reasons: string[] };
            return body.reasons.some((r) => r.includes('planner lease')) ? true : undefined;
          },
          { intervalMs: 50, timeoutMs: LEASE_MS },
        ),
      );

      // 2. B takes the lease once it expired, and plans.
      await race(
        waitFor(
          'B to hold the lease and plan',
          async () => {
            const now = await lease();
            return now?.holder === 'b' && (await writesBy('b')) > 0 ? now : undefined;
          },
          { intervalMs: 50, timeoutMs: PARTITION_MS },
        ),
      );
      expect(await lease()).toMatchObject({ holder: 'b', epoch: 2 });

      // 3. The rest of the partition, then the network is back.
      const rest = PARTITION_MS - (performance.now() - cutAt);
      expect(rest, 'the takeover took longer than the partition').toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, rest));
      const [{ healed_at: healedAt }] = (await query<{ healed_at: string }>(
        'select now()::text as healed_at',
      )) as [{ healed_at: string }];
      proxy.heal();

      // 4. A is a ready follower again: it answers from the database, heartbeats, and leaves the lease to B.
      await race(
        waitFor(
          "A's heartbeat after the partition",
          async () => {
            const rows = await query<{ n: number }>(
              `select count(*)::int as n from replicas where id = 'a' and heartbeat_at > '${healedAt}'`,
            );
            return rows[0]!.n > 0 ? true : undefined;
          },
          { intervalMs: 50 },
        ),
      );
      await race(
        waitFor(
          'A to be ready',
          async () => {
            const res = await a.get('/readyz');
            await res.arrayBuffer();
            return res.ok ? true : undefined;
          },
          { intervalMs: 50 },
        ),
      );
      const view = (await (await a.get('/api/v1/replicas')).json()) as {
        replicas: { id: string; status: string; leader: boolean }[];
        lease: { holder: string; epoch: number };
      };
      expect(view.lease).toMatchObject({ holder: 'b', epoch: 2 });
      expect(view.replicas.map(({ id, status, leader }) => ({ id, status, leader }))).toEqual([
        { id: 'a', status: 'live', leader: false },
        { id: 'b', status: 'live', leader: true },
      ]);
      expect(await (await a.get('/metrics')).text()).toContain('otactl_leader{replica="a"} 0');

      // 5. The fence: every planner write of A's committed before its lease expired by the database
      // clock (no statement held in the black hole landed after it), none since the partition healed.
      const [late] = await query<{ n: number }>(`
        select count(*)::int as n from test_planner_writes
        where replica = 'a' and at >= (select max(expires_at) from test_lease_history where epoch = 1)`);
      expect(late!.n).toBe(0);
      expect(await writesBy('a', `'${healedAt}'`)).toBe(0);
      expect(await writesBy('b')).toBeGreaterThan(0);
      expect(b.alive && a.alive).toBe(true);
      expect(
        (await query<{ epoch: number }>('select max(epoch)::int as epoch from test_lease_history'))[0]!.epoch,
      ).toBe(2);
    }

    it('the leader, black-holed for two lease durations, stops leading before its lease expires; the other takes over; healed, it resumes as a ready, heartbeating follower', async () => {
      await partitionTheLeader(async (p) => p.partition());
    }, 30_000);

    it('the same when the black hole opens inside a fenced write, after the database share-locked the lease row for it', async () => {
      await partitionTheLeader((p) => p.partitionAfter('for share'));
    }, 30_000);
  },
);
