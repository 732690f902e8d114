import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compareFigures,
  type Figure,
  formatComparison,
  GOALS,
  judge,
  median,
  summariseRuns,
} from '../../bench/index.js';
import { runMain } from '../helpers/run-main.js';

function rate(value: number, samples?: number[]): Figure {
  return {
    id: 'rollout.per-minute.1000.pglite',
    what: 'rollout, updates per minute',
    value,
    unit: '/min',
    fleet: 1000,
    database: 'pglite',
    ...(samples ? { samples } : {}),
  };
}

function heap(value: number, samples?: number[]): Figure {
  return {
    id: 'memory.heap.1000',
    what: 'heap per device',
    value,
    unit: 'B',
    fleet: 1000,
    database: 'none',
    ...(samples ? { samples } : {}),
  };
}

describe('bench medians', () => {
  it('takes the middle value, or the mean of the middle two', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow();
  });

  it('summarises runs per figure: median value, every sample, goal judged on the median', () => {
    const goal = { goal: GOALS.rolloutPerMinute.text };
    const runs = [
      [{ ...rate(19_000), ...goal, met: false }, heap(1800)],
      [{ ...rate(25_000), ...goal, met: true }, heap(1700)],
      [{ ...rate(21_000), ...goal, met: true }, heap(1900)],
    ];
    const [perMinute, perDevice] = summariseRuns(runs);
    expect(perMinute).toMatchObject({ value: 21_000, samples: [19_000, 25_000, 21_000], met: true });
    expect(perMinute!.note).toContain('median of 3 runs');
    expect(perDevice).toMatchObject({ value: 1800, samples: [1800, 1700, 1900] });
    expect(perDevice!.goal).toBeUndefined();
  });

  it('leaves a single run as it was', () => {
    const once = rate(4000);
    expect(summariseRuns([[once]])).toEqual([once]);
  });
});

describe('bench comparison', () => {
  it('calls a rate worse only when the new runs all lie below the old median and their median below every old run', () => {
    const before = rate(5000, [4600, 5000, 5300]);
    expect(judge(before, rate(3900, [3600, 3900, 4200]))).toBe('worse');
    expect(judge(before, rate(6000, [5800, 6000, 6400]))).toBe('better');
    // Overlapping spreads: the noise this bench has between identical runs.
    expect(judge(before, rate(4500, [4000, 4500, 5200]))).toBe('within noise');
  });

  it('reads the direction from the unit: fewer bytes per device is better', () => {
    const before = heap(1800, [1780, 1800, 1820]);
    expect(judge(before, heap(2000, [1990, 2000, 2010]))).toBe('worse');
    expect(judge(before, heap(1500, [1490, 1500, 1510]))).toBe('better');
  });

  it('follows a figure that says which way is better: fewer reconcile passes a second is better', () => {
    const passes = (value: number, samples: number[]): Figure => ({
      id: 'rollout.passes-per-second.1000.pglite',
      what: 'rollout: reconcile passes per second',
      value,
      unit: '/s',
      better: 'lower',
      fleet: 1000,
      database: 'pglite',
      samples,
    });
    const before = passes(33, [31, 33, 35]);
    expect(judge(before, passes(20, [19, 20, 22]))).toBe('better');
    expect(judge(before, passes(45, [40, 45, 50]))).toBe('worse');
  });

  it('refuses to judge fewer than three runs on either side', () => {
    expect(judge(rate(5000), rate(1000))).toBe('too few runs');
    expect(judge(rate(5000, [1, 2, 3]), rate(1000, [1, 2]))).toBe('too few runs');
  });

  it('lists figures that appeared or disappeared', () => {
    const old = [rate(5000), { ...heap(1800), id: 'memory.heap.200' }];
    const now = [rate(5000), heap(1700)];
    const verdicts = compareFigures(old, now).map((c) => [c.id, c.verdict]);
    expect(verdicts).toEqual([
      ['rollout.per-minute.1000.pglite', 'too few runs'],
      ['memory.heap.1000', 'new'],
      ['memory.heap.200', 'gone'],
    ]);
    const table = formatComparison(compareFigures(old, now));
    expect(table).toContain('too few runs');
    expect(table.split('\n')).toHaveLength(5);
  });
});

describe('otactl bench flags', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'otactl-bench-flags-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses a bad --repeat or an unreadable --compare file before running anything', async () => {
    const zero = await runMain(['bench', '--repeat', '0']);
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toContain('--repeat');

    const missing = await runMain(['bench', '--compare', join(dir, 'none.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--compare: cannot read .*none\.json/);

    const notResults = join(dir, 'other.json');
    await writeFile(notResults, '{"hello": 1}');
    const wrong = await runMain(['bench', '--compare', notResults]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('holds no bench figures');
    expect(wrong.stdout).toBe('');
  });
});
