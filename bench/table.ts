import type { Comparison } from './compare.js';
import type { Figure } from './figure.js';

function formatValue(f: Figure): string {
  const v = f.value;
  if (f.unit === 'x raw') return `${(v * 100).toFixed(0)}% of raw`;
  if (f.unit === 'B') return v >= 10_240 ? `${(v / 1024).toFixed(1)} KiB` : `${v.toFixed(0)} B`;
  if (f.unit === 'ms') return `${v.toFixed(v < 10 ? 1 : 0)} ms`;
  if (f.unit === 's') return `${v.toFixed(1)} s`;
  if (f.unit === 'queries') return v.toFixed(1);
  return `${Math.round(v).toLocaleString('en-US')}${f.unit}`;
}

/** A plain-text table: figure, value, fleet, database, goal (with a verdict). */
export function formatTable(figures: readonly Figure[]): string {
  const rows = [
    ['measured', 'value', 'fleet', 'db', 'goal'],
    ...figures.map((f) => [
      f.what,
      formatValue(f),
      f.fleet.toLocaleString('en-US'),
      f.database,
      f.goal === undefined ? '' : `${f.met ? 'MET   ' : 'MISSED'} ${f.goal}`,
    ]),
  ];
  return alignColumns(rows, [1, 2]);
}

/** Before, after and the verdict per figure; the spread shows when a bench was repeated. */
export function formatComparison(comparisons: readonly Comparison[]): string {
  const cell = (f: Figure | undefined) => {
    if (!f) return '-';
    const s = f.samples;
    return s && s.length > 1 ? `${formatValue(f)} (${s.length} runs)` : formatValue(f);
  };
  const rows = [
    ['measured', 'before', 'after', 'verdict'],
    ...comparisons.map((c) => [c.what, cell(c.before), cell(c.after), c.verdict]),
  ];
  return alignColumns(rows, [1, 2]);
}

/** Rows under a header and a rule; the columns listed are numbers, right-aligned. */
function alignColumns(rows: readonly (readonly string[])[], numeric: readonly number[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) =>
    r
      .map((text, i) => (numeric.includes(i) ? text.padStart(widths[i]!) : text.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}
