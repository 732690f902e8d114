import { describe, expect, it } from 'vitest';
import { Limiter, type Priority } from '../../controller/devices/limiter.js';

/** Tasks that run until the test ends them, so what runs at once can be counted exactly. */
function harness(limiter: Limiter) {
  const running: { name: string; end: () => void }[] = [];
  const started: string[] = [];
  const submit = (name: string, priority: Priority) =>
    limiter.run(
      () =>
        new Promise<void>((end) => {
          started.push(name);
          running.push({ name, end });
        }),
      priority,
    );
  /** Ends the oldest running task with this prefix and lets the limiter start its successors. */
  const finish = async (prefix: string) => {
    const i = running.findIndex((t) => t.name.startsWith(prefix));
    const [task] = running.splice(i, 1);
    task!.end();
    await new Promise((resolve) => setImmediate(resolve));
  };
  const count = (prefix: string) => running.filter((t) => t.name.startsWith(prefix)).length;
  return { submit, finish, count, started };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('read limiter', () => {
  it('starts waiting foreground tasks before waiting background ones', async () => {
    const h = harness(new Limiter({ max: 1 }));
    void h.submit('fg-0', 'foreground');
    void h.submit('bg-1', 'background');
    void h.submit('fg-2', 'foreground');
    await settle();
    await h.finish('fg-0');
    await h.finish('fg-2');
    expect(h.started).toEqual(['fg-0', 'fg-2', 'bg-1']);
  });

  it('holds background tasks to a few during a storm, never to none, and does not hold foreground ones', async () => {
    let storm = true;
    const h = harness(new Limiter({ max: 10, backgroundWhileBusy: 2, busy: () => storm }));
    for (let i = 0; i < 20; i++) void h.submit(`bg-${i}`, 'background');
    await settle();
    expect(h.count('bg')).toBe(2);
    for (let i = 0; i < 5; i++) void h.submit(`fg-${i}`, 'foreground');
    await settle();
    expect(h.count('fg')).toBe(5);
    // Still a storm: each background task that ends is replaced by one, no more.
    await h.finish('bg');
    await h.finish('bg');
    expect(h.count('bg')).toBe(2);
    expect(h.started.filter((n) => n.startsWith('bg'))).toHaveLength(4);
    storm = false;
    for (let i = 0; i < 5; i++) await h.finish('fg');
    // Calm again: every background task that ends lets two start, until `max` run.
    await h.finish('bg');
    expect(h.count('bg')).toBe(3);
    await h.finish('bg');
    expect(h.count('bg')).toBe(4);
    for (let i = 0; i < 6; i++) await h.finish('bg');
    expect(h.count('bg')).toBe(10);
  });

  it('runs at most max tasks when nothing is busy, in arrival order', async () => {
    const h = harness(new Limiter(3));
    for (let i = 0; i < 5; i++) void h.submit(`t-${i}`, 'foreground');
    await settle();
    expect(h.started).toEqual(['t-0', 't-1', 't-2']);
    await h.finish('t-0');
    expect(h.started).toEqual(['t-0', 't-1', 't-2', 't-3']);
  });

  it('runs tasks queued with start() like run() ones, and frees the slot of one that throws or rejects', async () => {
    const limiter = new Limiter({ max: 2 });
    const started: string[] = [];
    const ends = new Map<string, () => void>();
    const task = (name: string) => () =>
      new Promise<void>((end) => {
        started.push(name);
        ends.set(name, end);
      });
    limiter.start(() => {
      started.push('throws');
      throw new Error('synchronous failure');
    }, 'background');
    limiter.start(() => {
      started.push('rejects');
      return Promise.reject(new Error('asynchronous failure'));
    }, 'background');
    limiter.start(task('a'), 'background');
    limiter.start(task('b'), 'background');
    limiter.start(task('c'), 'background');
    await settle();
    // Both failures gave their slots back: two tasks run, the third waits.
    expect(started).toEqual(['throws', 'rejects', 'a', 'b']);
    expect(limiter.running).toBe(2);
    expect(limiter.waiting).toBe(1);
    ends.get('a')!();
    await settle();
    expect(started).toEqual(['throws', 'rejects', 'a', 'b', 'c']);
    ends.get('b')!();
    ends.get('c')!();
    await settle();
    expect(limiter.running).toBe(0);
  });

  it('runs probes in slots of their own: however many wait, interrogations keep theirs', async () => {
    const limiter = new Limiter({ max: 2, maxProbes: 3 });
    const h = harness(limiter);
    for (let i = 0; i < 50; i++) void h.submit(`probe-${i}`, 'probe');
    void h.submit('bg-0', 'background');
    void h.submit('bg-1', 'background');
    await settle();
    // Probes ramp up from the storm level (here 2): the first one that ends lets two start.
    expect(h.count('probe')).toBe(2);
    await h.finish('probe');
    expect(h.count('bg')).toBe(2);
    expect(limiter.runningProbes).toBe(3);
    expect(limiter.waitingProbes).toBe(46);
    expect(limiter.waiting).toBe(0);
    // A newly queued probe is taken at one of the next two free probe slots (the newest and the
    // oldest in turn); retries only once no first probe waits.
    void h.submit('retry-0', 'probe-retry');
    void h.submit('probe-new', 'probe');
    await h.finish('probe');
    await h.finish('probe');
    expect(h.started.slice(-2)).toContain('probe-new');
    expect(h.started).not.toContain('retry-0');
  });

  it('during a storm shares its few slots between interrogations and probes, interrogations first', async () => {
    let storm = true;
    const h = harness(new Limiter({ max: 10, maxProbes: 10, backgroundWhileBusy: 2, busy: () => storm }));
    for (let i = 0; i < 20; i++) void h.submit(`probe-${i}`, 'probe');
    await settle();
    expect(h.count('probe')).toBe(2);
    void h.submit('bg-0', 'background');
    void h.submit('bg-1', 'background');
    await settle();
    expect(h.count('bg')).toBe(0);
    // The slots a probe frees go to the interrogations waiting.
    await h.finish('probe');
    await h.finish('probe');
    expect(h.count('bg')).toBe(2);
    expect(h.count('probe')).toBe(0);
    await h.finish('bg');
    expect(h.count('probe')).toBe(1);
    storm = false;
    await h.finish('bg');
    expect(h.count('probe')).toBe(2);
    // Calm: each probe that ends doubles the probes allowed, up to every probe slot.
    await h.finish('probe');
    expect(h.count('probe')).toBe(4);
    await h.finish('probe');
    expect(h.count('probe')).toBe(8);
    await h.finish('probe');
    expect(h.count('probe')).toBe(10);
  });

  it('starts no probe while many interrogations wait (what a probe finds answering goes there)', async () => {
    const h = harness(new Limiter({ max: 1, maxProbes: 5, maxBackgroundWaitingForProbes: 2 }));
    for (let i = 0; i < 3; i++) void h.submit(`bg-${i}`, 'background');
    for (let i = 0; i < 5; i++) void h.submit(`probe-${i}`, 'probe');
    await settle();
    expect(h.count('bg')).toBe(1);
    expect(h.count('probe')).toBe(0);
    // One interrogation fewer waiting: probes go again (ramping up from one).
    await h.finish('bg');
    expect(h.count('probe')).toBe(1);
    expect(h.count('bg')).toBe(1);
  });

  it('tells when a task ended, after its slot is free and the next one started', async () => {
    const seen: string[] = [];
    const limiter: Limiter = new Limiter({
      max: 1,
      onFinished: () =>
        seen.push(`running ${limiter.running + limiter.runningProbes}, waiting ${limiter.waiting}`),
    });
    const h = harness(limiter);
    void h.submit('fg-0', 'foreground');
    void h.submit('fg-1', 'foreground');
    limiter.start(async () => {}, 'probe');
    await settle();
    expect(seen).toEqual(['running 1, waiting 1']);
    await h.finish('fg-0');
    expect(seen).toEqual(['running 1, waiting 1', 'running 1, waiting 0']);
    await h.finish('fg-1');
    expect(seen).toEqual(['running 1, waiting 1', 'running 1, waiting 0', 'running 0, waiting 0']);
  });

  it('lends a slot out while its task waits for a device, and gives it back ahead of waiting tasks', async () => {
    const limiter = new Limiter({ max: 1 });
    const h = harness(limiter);
    const order: string[] = [];
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const sleeper = limiter.run(async (slot) => {
      order.push('sleeper sent');
      slot.release();
      await woken;
      await slot.reacquire();
      order.push('sleeper resumed');
    });
    await settle();
    void h.submit('fg-0', 'foreground');
    void h.submit('fg-1', 'foreground');
    await settle();
    // The one slot went to the next task while the sleeper waited.
    expect(h.started).toEqual(['fg-0']);
    expect(limiter.running).toBe(1);
    wake();
    await settle();
    expect(limiter.waiting).toBe(2);
    await h.finish('fg-0');
    await sleeper;
    expect(order).toEqual(['sleeper sent', 'sleeper resumed']);
    // It took the slot before fg-1, which started when it ended.
    expect(h.started).toEqual(['fg-0', 'fg-1']);
    expect(limiter.running).toBe(1);
  });

  it('lends the slot of a task it started too, in the background and the probe lane', async () => {
    const limiter = new Limiter({ max: 1, maxProbes: 1 });
    const h = harness(limiter);
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    for (const priority of ['background', 'probe'] as const) {
      limiter.start(async (slot) => {
        slot.release();
        await woken;
        await slot.reacquire();
        h.started.push(`${priority} sleeper resumed`);
      }, priority);
    }
    await settle();
    expect(limiter.runningBackground + limiter.runningProbes).toBe(0);
    void h.submit('bg', 'background');
    void h.submit('probe', 'probe');
    await settle();
    // Both slots went to the next tasks while the sleepers waited.
    expect(h.started).toEqual(['bg', 'probe']);
    wake();
    await settle();
    void h.submit('bg-next', 'background');
    await h.finish('bg');
    await h.finish('probe');
    // Each sleeper took its slot back as it came free, before the task waiting to start.
    expect(h.started).toEqual([
      'bg',
      'probe',
      'background sleeper resumed',
      'bg-next',
      'probe sleeper resumed',
    ]);
    expect(limiter.runningBackground + limiter.runningProbes).toBe(1);
  });
});
