import { describe, expect, it } from 'vitest';
import { UpdateWorkQueue } from '../../controller/reconcile/run/update-work-queue.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('the reconciler work queue', () => {
  it('runs one task per update at a time, at most `limit` at once, and drains', async () => {
    let settled = 0;
    const errors: unknown[] = [];
    const queue = new UpdateWorkQueue(
      2,
      () => settled++,
      (e) => errors.push(e),
    );
    const gates = [deferred(), deferred(), deferred()];
    const started: number[] = [];
    const task = (i: number) => async () => {
      started.push(i);
      await gates[i]!.promise;
    };
    expect(queue.submit(1, task(0))).toBe(true);
    expect(queue.submit(1, task(0))).toBe(false);
    expect(queue.submit(2, task(1))).toBe(true);
    expect(queue.submit(3, task(2))).toBe(true);
    expect(started).toEqual([0, 1]);
    expect(queue.isBusy(3)).toBe(true);
    const drained = queue.drain();
    gates[0]!.resolve();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    expect(queue.isBusy(1)).toBe(false);
    gates[1]!.resolve();
    gates[2]!.resolve();
    await drained;
    expect(settled).toBe(3);
    expect(queue.size).toBe(0);
    expect(errors).toEqual([]);
  });

  it('reports a failing task and frees its update', async () => {
    const errors: unknown[] = [];
    const queue = new UpdateWorkQueue(
      4,
      () => {},
      (e) => errors.push(e),
    );
    queue.submit(7, async () => {
      throw new Error('boom');
    });
    await queue.drain();
    expect(errors).toHaveLength(1);
    expect(queue.isBusy(7)).toBe(false);
  });

  it('does not ask for another look at an update whose task did nothing (it resolved false)', async () => {
    const settled: number[] = [];
    const queue = new UpdateWorkQueue(
      4,
      (id) => settled.push(id),
      () => {},
    );
    queue.submit(1, async () => false);
    queue.submit(2, async () => true);
    queue.submit(3, async () => {});
    await queue.drain();
    expect(settled.sort()).toEqual([2, 3]);
  });

  it('lets another task run while one waits for a sleeping device, and gives its slot back first', async () => {
    const queue = new UpdateWorkQueue(
      1,
      () => {},
      () => {},
    );
    const woken = deferred();
    const ends = [deferred(), deferred()];
    const order: string[] = [];
    queue.submit(1, async (slot) => {
      order.push('sleeper queued');
      slot.release();
      await woken.promise;
      await slot.reacquire();
      order.push('sleeper sent');
    });
    for (const [i, end] of ends.entries()) {
      queue.submit(2 + i, async () => {
        order.push(`task ${i} started`);
        await end.promise;
      });
    }
    // The sleeper's slot went to the next task.
    expect(order).toEqual(['sleeper queued', 'task 0 started']);
    woken.resolve();
    await new Promise((r) => setImmediate(r));
    expect(order).toHaveLength(2);
    // Task 0 ends: the woken sleeper takes the slot before task 1 starts.
    ends[0]!.resolve();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['sleeper queued', 'task 0 started', 'sleeper sent', 'task 1 started']);
    ends[1]!.resolve();
    await queue.drain();
  });
});
