export { DATABASES, type DatabaseKind, type Figure, GOALS } from './figure.js';
export {
  type BenchOptions,
  type BenchResults,
  runBench,
  SCENARIOS,
  type ScenarioName,
  writeResults,
} from './run-bench.js';
export { type BenchSizes, FULL, QUICK, TINY } from './sizes.js';
export { formatTable } from './table.js';
