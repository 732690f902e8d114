import { describe, expect, it } from 'vitest';
import { formatTable, runBench, TINY } from '../../bench/index.js';

// The harness at tiny sizes, so it cannot rot. No timing is asserted: only that every figure exists.
describe('npm run bench (tiny sizes)', () => {
  it('produces every figure of issue 10 as a positive number, each with its fleet size and database', async () => {
    const results = await runBench({ sizes: TINY, mode: 'tiny' });

    expect(results.failures).toEqual([]);
    const ids = results.figures.map((f) => f.id).sort();
    expect(ids).toEqual(
      [
        'raw.registers',
        'raw.reads',
        'otactl.registrations.pglite',
        'otactl.registrations.ratio.pglite',
        'otactl.reads.pglite',
        'otactl.reads.ratio.pglite',
        'rollout.per-minute.50.pglite',
        'rollout.cpu.50.pglite',
        'rollout.queries.50.pglite',
        'rollout.statements-per-pass.50.pglite',
        'rollout.passes-per-second.50.pglite',
        'rollout.cpu-per-pass.50.pglite',
        'sim.heap.50',
        'reconcile.pass.500.pglite',
        'reconcile.first-pass.500.pglite',
        'reconcile.queries.500.pglite',
        'memory.heap.200',
        'memory.rss.200',
        'silent-flood.first-read.slowest.200',
        'silent-flood.first-read.median.200',
      ].sort(),
    );
    for (const f of results.figures) {
      // A memory delta over 200 devices is within the noise of the garbage collector and the
      // allocator returning pages: it may come out negative. Every other figure is a count or a rate.
      if (f.id.startsWith('memory.')) expect(f.value, f.id).not.toBeNaN();
      else expect(f.value, f.id).toBeGreaterThan(0);
      expect(Number.isFinite(f.value), f.id).toBe(true);
      expect(f.fleet, f.id).toBeGreaterThan(0);
      expect(f.what.length, f.id).toBeGreaterThan(0);
    }
    const withGoals = results.figures.filter((f) => f.goal !== undefined).map((f) => f.id);
    expect(withGoals).toEqual(
      expect.arrayContaining([
        'otactl.registrations.ratio.pglite',
        'rollout.per-minute.50.pglite',
        'memory.heap.200',
        'silent-flood.first-read.slowest.200',
      ]),
    );
    const table = formatTable(results.figures);
    for (const f of results.figures) expect(table).toContain(f.what);
  }, 240_000);
});
