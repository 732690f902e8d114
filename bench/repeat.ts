import { type Figure, GOALS } from './figure.js';

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * One figure per id from several runs of the same scenarios: the median value, every sample kept.
 * A single figure of a rollout varies by a quarter between identical runs on a quiet machine, so
 * only the median of several runs, and their spread, can show a change in the code.
 */
export function summariseRuns(runs: readonly (readonly Figure[])[]): Figure[] {
  const byId = new Map<string, Figure[]>();
  for (const run of runs) {
    for (const f of run) {
      const seen = byId.get(f.id);
      if (seen) seen.push(f);
      else byId.set(f.id, [f]);
    }
  }
  return [...byId.values()].map((all) => {
    const first = all[0]!;
    const samples = all.map((f) => f.value);
    if (samples.length === 1) return first;
    const value = median(samples);
    const { goal, met: _met, samples: _samples, note: _note, ...rest } = first;
    const round = (v: number) => Number(v.toPrecision(3));
    const spread = `median of ${samples.length} runs; ${round(Math.min(...samples))}..${round(Math.max(...samples))}`;
    const predicate = Object.values(GOALS).find((g) => g.text === goal);
    return {
      ...rest,
      value,
      samples,
      note: spread,
      ...(goal === undefined
        ? {}
        : { goal, met: predicate ? predicate.met(value) : all.every((f) => f.met) }),
    };
  });
}
