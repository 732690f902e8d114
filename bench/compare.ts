import { type Figure, higherIsBetter } from './figure.js';

export type Verdict = 'better' | 'worse' | 'within noise' | 'too few runs' | 'new' | 'gone';

export interface Comparison {
  readonly id: string;
  readonly what: string;
  readonly before?: Figure;
  readonly after?: Figure;
  readonly verdict: Verdict;
}

/** Runs needed on each side before a change is called: with fewer, the spread is unknown. */
export const MIN_RUNS_TO_JUDGE = 3;

function samplesOf(f: Figure): readonly number[] {
  return f.samples ?? [f.value];
}

/**
 * Judges one figure: a change counts only when the new median lies outside every earlier run
 * (and the earlier median outside every new run), in the same direction. Anything less is noise.
 */
export function judge(before: Figure, after: Figure): Verdict {
  const was = samplesOf(before);
  const is = samplesOf(after);
  if (was.length < MIN_RUNS_TO_JUDGE || is.length < MIN_RUNS_TO_JUDGE) return 'too few runs';
  // Goodness: larger is better whichever way the unit points.
  const sign = higherIsBetter(after) ? 1 : -1;
  const wasGood = was.map((v) => sign * v);
  const isGood = is.map((v) => sign * v);
  const medianWas = sign * before.value;
  const medianIs = sign * after.value;
  if (medianIs > Math.max(...wasGood) && Math.min(...isGood) > medianWas) return 'better';
  if (medianIs < Math.min(...wasGood) && Math.max(...isGood) < medianWas) return 'worse';
  return 'within noise';
}

export function compareFigures(before: readonly Figure[], after: readonly Figure[]): Comparison[] {
  const earlier = new Map(before.map((f) => [f.id, f]));
  const out: Comparison[] = after.map((f) => {
    const old = earlier.get(f.id);
    return old
      ? { id: f.id, what: f.what, before: old, after: f, verdict: judge(old, f) }
      : { id: f.id, what: f.what, after: f, verdict: 'new' };
  });
  const now = new Set(after.map((f) => f.id));
  for (const f of before)
    if (!now.has(f.id)) out.push({ id: f.id, what: f.what, before: f, verdict: 'gone' });
  return out;
}
