import {
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  sql,
  type UnknownRow,
} from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceChange } from '../../controller/devices/index.js';
import {
  type DeviceWrite,
  DeviceWriteQueue,
  WRITES_FAILING_AFTER_MS,
  writesFailing,
} from '../../controller/devices/write-queue.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';

const T = new Date('2030-01-01T00:00:00Z');
const silent = { debug() {}, warn() {}, error() {} };

/**
 * Holds the answer of every statement after the first `passFirst` until `release()`: the statement
 * has run (and, outside a transaction, committed), but the queue does not know it yet, so its batch
 * stays in flight as long as the test wants.
 */
class Gate implements KyselyPlugin {
  #held: (() => void)[] = [];
  #open = false;
  #onHeld: (() => void)[] = [];

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (!this.#open) {
      await new Promise<void>((resolve) => {
        this.#held.push(resolve);
        for (const w of this.#onHeld.splice(0)) w();
      });
    }
    return args.result;
  }

  /** Resolves once a statement is being held. */
  holding(): Promise<void> {
    if (this.#held.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.#onHeld.push(resolve));
  }

  release(): void {
    this.#open = true;
    for (const r of this.#held.splice(0)) r();
  }
}

function patch(endpoint: string, model: string): DeviceWrite {
  return {
    endpoint,
    patch: { endpoint, model, updated_at: T },
    change: { kind: 'info', firmwareVersion: model },
  };
}

describe.each(testBackends)('device write queue ($name)', (backend) => {
  let db: OpenDatabase | undefined;
  let queue: DeviceWriteQueue | undefined;
  afterEach(async () => {
    await queue?.close();
    await db?.close();
  });

  function start(gate: Gate, maxConcurrentBatches: number, committed: [string, DeviceChange][]) {
    return new DeviceWriteQueue(db!.db.withPlugin(gate), {
      maxBatch: 500,
      maxConcurrentBatches,
      clock: () => T.getTime(),
      logger: silent,
      onCommitted: (endpoint, change) => committed.push([endpoint, change]),
    });
  }

  it('writes what arrives together as one batch, and what arrives during a write as the next one', async () => {
    db = await backend.open();
    const gate = new Gate();
    const committed: [string, DeviceChange][] = [];
    queue = start(gate, 1, committed);
    const first = Array.from({ length: 20 }, (_, i) => queue!.enqueueAndWait(patch(`a-${i}`, 'M1')));
    await gate.holding();
    // The first batch is in flight: these wait for it, then all go together.
    const second = Array.from({ length: 30 }, (_, i) => queue!.enqueueAndWait(patch(`b-${i}`, 'M2')));
    expect(queue.stats.batches).toBe(0);
    gate.release();
    await Promise.all([...first, ...second]);
    expect(queue.stats).toMatchObject({ batches: 2, statements: 2, transactions: 0, devices: 50 });
    expect(committed).toHaveLength(50);
    const rows = await db.db.selectFrom('devices').select('endpoint').execute();
    expect(rows).toHaveLength(50);
  });

  it('never has one endpoint in two batches at once: its later write waits and lands last', async () => {
    db = await backend.open();
    const gate = new Gate();
    const committed: [string, DeviceChange][] = [];
    queue = start(gate, 2, committed);
    const order: string[] = [];
    const firstWrite = queue.enqueueAndWait(patch('shared', 'first')).then(() => order.push('shared first'));
    await gate.holding();
    // A write slot is free, but `shared` is in flight: only `other` may go now.
    const secondWrite = queue
      .enqueueAndWait(patch('shared', 'second'))
      .then(() => order.push('shared second'));
    const other = queue.enqueueAndWait(patch('other', 'x')).then(() => order.push('other'));
    // The queue sends its next batch from a setImmediate the enqueues scheduled: one turn later it
    // has, holding `other` only.
    await new Promise((resolve) => setImmediate(resolve));
    expect(queue.pending).toBe(1);
    expect(order).toEqual([]);
    gate.release();
    await Promise.all([firstWrite, secondWrite, other]);
    expect(order.indexOf('shared first')).toBeLessThan(order.indexOf('shared second'));
    expect(committed.filter(([ep]) => ep === 'shared').map(([, c]) => c)).toEqual([
      { kind: 'info', firmwareVersion: 'first' },
      { kind: 'info', firmwareVersion: 'second' },
    ]);
    const row = await db.db
      .selectFrom('devices')
      .select('model')
      .where('endpoint', '=', 'shared')
      .executeTakeFirstOrThrow();
    expect(row.model).toBe('second');
    expect(queue.stats.batches).toBe(3);
  });

  it('applies a registration end and later patches of the same batch, the end only to its registration', async () => {
    db = await backend.open();
    const gate = new Gate();
    gate.release();
    queue = start(gate, 2, []);
    const registered = (endpoint: string, id: string) => ({
      endpoint,
      patch: { endpoint, registration_id: id, registration_state: 'registered' as const, updated_at: T },
    });
    await Promise.all([
      queue.enqueueAndWait(registered('gone', 'g1')),
      queue.enqueueAndWait(registered('back', 'b1')),
    ]);
    // One batch: `gone` de-registers and reports a state; `back` de-registers and registers again.
    queue.enqueue({ endpoint: 'gone', end: { registrationId: 'g1', state: 'deregistered' } });
    queue.enqueue({ endpoint: 'gone', patch: { endpoint: 'gone', fw_state: 3, updated_at: T } });
    queue.enqueue({ endpoint: 'back', end: { registrationId: 'b1', state: 'deregistered' } });
    await queue.enqueueAndWait(registered('back', 'b2'));
    const rows = await db.db
      .selectFrom('devices')
      .select(['endpoint', 'registration_id', 'registration_state', 'fw_state'])
      .orderBy('endpoint')
      .execute();
    expect(rows).toEqual([
      { endpoint: 'back', registration_id: 'b2', registration_state: 'registered', fw_state: null },
      { endpoint: 'gone', registration_id: 'g1', registration_state: 'deregistered', fw_state: 3 },
    ]);
    expect(queue.stats).toMatchObject({ batches: 2, transactions: 1 });
  });

  describe('when the database refuses or fails a write', () => {
    const errors: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = {
      debug() {},
      warn() {},
      error(obj: object, msg: string) {
        errors.push({ obj: obj as Record<string, unknown>, msg });
      },
    };
    afterEach(() => {
      errors.length = 0;
    });

    function open(
      clock: () => number,
      committed: [string, DeviceChange][] = [],
      rejected: [string, DeviceChange][] = [],
    ) {
      return new DeviceWriteQueue(db!.db, {
        maxBatch: 500,
        clock,
        logger,
        onCommitted: (endpoint, change) => committed.push([endpoint, change]),
        onRejected: (endpoint, change) => rejected.push([endpoint, change]),
      });
    }

    /** Settles every promise; resolves to each one's outcome (the error's message when rejected). */
    function outcomes(promises: readonly Promise<void>[]): Promise<string[]> {
      return Promise.all(
        promises.map((p) =>
          p.then(
            () => 'ok',
            (e: Error) => e.message,
          ),
        ),
      );
    }

    it('commits every other device of a batch at once and quarantines the one row it refuses', async () => {
      db = await backend.open();
      const committed: [string, DeviceChange][] = [];
      const dropped: [string, DeviceChange][] = [];
      queue = open(() => T.getTime(), committed, dropped);
      // One batch: 40 devices, one of them registers with a lifetime beyond int4, one reports a
      // State beyond int2, and one de-registers (the batch is then a transaction).
      await queue.enqueueAndWait({
        endpoint: 'leaving',
        patch: {
          endpoint: 'leaving',
          registration_id: 'l1',
          registration_state: 'registered',
          updated_at: T,
        },
      });
      const writes = Array.from({ length: 40 }, (_, i) => {
        const endpoint = `dev-${String(i).padStart(2, '0')}`;
        const extra =
          i === 7 ? { lifetime_s: 2_147_483_648 } : i === 23 ? { fw_state: 70_000 } : { lifetime_s: 300 };
        return queue!.enqueueAndWait({
          endpoint,
          patch: { endpoint, model: 'M', updated_at: T, ...extra },
          events: [{ endpoint, type: 'DeviceRegistered', message: 'registered', details: '{}' }],
          change: { kind: 'info', firmwareVersion: endpoint },
        });
      });
      queue.enqueue({ endpoint: 'leaving', end: { registrationId: 'l1', state: 'deregistered' } });
      const settling = outcomes(writes);
      // Written without any backoff: the first flush already commits everything it can.
      expect(await queue.flush()).toBe(true);
      const settled = await settling;
      expect(settled.filter((o) => o !== 'ok')).toEqual([
        expect.stringMatching(/refused this device's write: .*out of range/),
        expect.stringMatching(/refused this device's write: .*out of range/),
      ]);
      expect(settled[7]).not.toBe('ok');
      expect(settled[23]).not.toBe('ok');
      expect(queue.pending).toBe(0);
      expect(queue.stats).toMatchObject({ quarantined: 2, failingSince: undefined });
      expect(dropped.map(([endpoint]) => endpoint).sort()).toEqual(['dev-07', 'dev-23']);

      const rows = await db.db.selectFrom('devices').select(['endpoint', 'registration_state']).execute();
      const stored = rows.map((r) => r.endpoint).sort();
      expect(stored).toHaveLength(39);
      expect(stored).not.toContain('dev-07');
      expect(stored).not.toContain('dev-23');
      expect(rows.find((r) => r.endpoint === 'leaving')?.registration_state).toBe('deregistered');
      expect(committed.map(([ep]) => ep).sort()).toEqual(stored.filter((ep) => ep !== 'leaving'));

      const rejected = await db.db
        .selectFrom('events')
        .select(['endpoint', 'message', 'details'])
        .where('type', '=', 'DeviceWriteRejected')
        .orderBy('endpoint')
        .execute();
      expect(rejected).toEqual([
        {
          endpoint: 'dev-07',
          message: expect.stringContaining('out of range'),
          details: expect.objectContaining({
            sqlState: '22003',
            columns: expect.arrayContaining(['lifetime_s']),
          }),
        },
        {
          endpoint: 'dev-23',
          message: expect.stringContaining('out of range'),
          details: expect.objectContaining({
            sqlState: '22003',
            columns: expect.arrayContaining(['fw_state']),
          }),
        },
      ]);
      const quarantined = errors.filter((e) => e.msg === 'the database refused a device write; dropped it');
      expect(quarantined.map((e) => e.obj.endpoint).sort()).toEqual(['dev-07', 'dev-23']);
      expect(errors.filter((e) => e.msg === 'writing device changes failed; will retry')).toEqual([]);

      // The device's next, storable write goes through: nothing of it is stuck in the queue.
      await queue.enqueueAndWait({
        endpoint: 'dev-07',
        patch: { endpoint: 'dev-07', lifetime_s: 300, updated_at: T },
      });
      expect(
        await db.db
          .selectFrom('devices')
          .select('lifetime_s')
          .where('endpoint', '=', 'dev-07')
          .executeTakeFirst(),
      ).toEqual({ lifetime_s: 300 });
    });

    it('keeps every write through failures other than refused data, retries them, and reports the failing time', async () => {
      db = await backend.open();
      let now = T.getTime();
      queue = open(() => now);
      // A failure of the database, not of the data (08006: connection failure).
      await sql`create function writes_away() returns trigger language plpgsql as $$
        begin raise exception 'database away' using errcode = '08006'; end $$`.execute(db.db);
      await sql`create trigger writes_away before insert or update on devices
        for each row execute function writes_away()`.execute(db.db);
      const writes = Array.from({ length: 10 }, (_, i) => queue!.enqueueAndWait(patch(`dev-${i}`, 'M1')));
      expect(await queue.flush()).toBe(false);
      expect(queue.pending).toBe(10);
      expect(queue.stats).toMatchObject({ quarantined: 0, failingSince: now });
      expect(writesFailing(queue.stats, now + WRITES_FAILING_AFTER_MS - 1)).toBe(false);
      now += WRITES_FAILING_AFTER_MS;
      expect(await queue.flush()).toBe(false);
      expect(writesFailing(queue.stats, now)).toBe(true);
      // Newer writes merge on top of the ones kept.
      const newer = queue.enqueueAndWait(patch('dev-3', 'M2'));

      await sql`drop trigger writes_away on devices`.execute(db.db);
      while (queue.pending > 0) await queue.flush();
      expect(await outcomes([...writes, newer])).toEqual(Array(11).fill('ok'));
      expect(queue.stats).toMatchObject({ quarantined: 0, failingSince: undefined });
      expect(writesFailing(queue.stats, now)).toBe(false);
      const rows = await db.db
        .selectFrom('devices')
        .select(['endpoint', 'model'])
        .orderBy('endpoint')
        .execute();
      expect(rows).toHaveLength(10);
      expect(rows.find((r) => r.endpoint === 'dev-3')?.model).toBe('M2');
      const rejected = await db.db
        .selectFrom('events')
        .select('id')
        .where('type', '=', 'DeviceWriteRejected')
        .execute();
      expect(rejected).toEqual([]);
    });

    it('keeps one change of each report kind and one promise per attempt for a device that reports while the database is down', async () => {
      db = await backend.open();
      const committed: [string, DeviceChange][] = [];
      queue = open(() => T.getTime(), committed);
      await sql`create function writes_away() returns trigger language plpgsql as $$
        begin raise exception 'database away' using errcode = '08006'; end $$`.execute(db.db);
      await sql`create trigger writes_away before insert or update on devices
        for each row execute function writes_away()`.execute(db.db);
      const endpoint = 'chatty';
      const report = (n: number): DeviceWrite => ({
        endpoint,
        // State and Result come in separate notifications, as devices that observe them one by one send them.
        patch:
          n % 2 === 0
            ? { endpoint, fw_state: n % 4, fw_reported_at: T, updated_at: T }
            : { endpoint, fw_result: n % 9, fw_reported_at: T, updated_at: T },
        change:
          n % 2 === 0 ? { kind: 'firmware-state', state: n % 4 } : { kind: 'firmware-state', result: n % 9 },
      });
      queue.enqueue({
        endpoint,
        patch: { endpoint, registration_id: 'r1', registration_state: 'registered', updated_at: T },
        change: { kind: 'registered', registrationId: 'r1' },
      });
      const notifications = 200_000;
      const attempts = 4;
      const waits: Promise<void>[] = [];
      for (let attempt = 0; attempt < attempts; attempt++) {
        // Half of each share arrives while the attempt is in flight, into an entry of its own.
        const failing = queue.flush();
        for (let i = 0; i < notifications / attempts; i++) {
          const n = (attempt * notifications) / attempts + i;
          if (n % 1000 === 0) waits.push(queue.enqueueAndWait(report(n)));
          else queue.enqueue(report(n));
        }
        expect(await failing).toBe(false);
      }
      queue.enqueue({ endpoint, change: { kind: 'info', firmwareVersion: '1.0.0' } });
      queue.enqueue({ endpoint, change: { kind: 'info', firmwareVersion: '1.0.1' } });
      expect(waits).toHaveLength(notifications / 1000);
      // One promise for each entry the writes went into: the first, and one for each attempt.
      expect(new Set(waits).size).toBeLessThanOrEqual(attempts + 1);

      await sql`drop trigger writes_away on devices`.execute(db.db);
      while (queue.pending > 0) await queue.flush();
      expect(await outcomes(waits)).toEqual(Array(waits.length).fill('ok'));
      // The registration told as it came; the reports once each, as what is stored now.
      const last = notifications - 1;
      expect(committed).toEqual([
        [endpoint, { kind: 'registered', registrationId: 'r1' }],
        [endpoint, { kind: 'firmware-state', state: (last - 1) % 4, result: last % 9 }],
        [endpoint, { kind: 'info', firmwareVersion: '1.0.1' }],
      ]);
      const row = await db.db
        .selectFrom('devices')
        .select(['registration_id', 'fw_state', 'fw_result'])
        .where('endpoint', '=', endpoint)
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ registration_id: 'r1', fw_state: (last - 1) % 4, fw_result: last % 9 });
    });
  });
});
