import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceChange } from '../../controller/devices/index.js';
import { type DeviceWrite, DeviceWriteQueue } from '../../controller/devices/write-queue.js';
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
});
