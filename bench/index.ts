export { type Comparison, compareFigures, judge, type Verdict } from './compare.js';
export { DATABASES, type DatabaseKind, type Figure, GOALS, higherIsBetter } from './figure.js';
export { median, summariseRuns } from './repeat.js';
export {
  type BenchOptions,
  type BenchResults,
  runBench,
  runBenchRepeated,
  SCENARIOS,
  type ScenarioName,
  writeResults,
} from './run-bench.js';
export { type BenchSizes, FULL, QUICK, TINY } from './sizes.js';
export { formatComparison, formatTable } from './table.js';
