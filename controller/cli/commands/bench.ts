import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  type BenchResults,
  compareFigures,
  type Figure,
  FULL,
  formatComparison,
  formatTable,
  QUICK,
  runBenchRepeated,
  SCENARIOS,
  type ScenarioName,
  writeResults,
} from '../../../bench/index.js';
import { countOption } from '../options.js';
import { UserError } from '../user-error.js';

interface BenchFlags {
  readonly quick?: boolean;
  readonly only?: string;
  readonly postgres?: string;
  readonly out: string;
  readonly rolloutOnPostgres?: boolean;
  readonly replicas: number;
  readonly repeat: number;
  readonly compare?: string;
}

function parseOnly(text: string | undefined): ScenarioName[] | undefined {
  if (text === undefined) return undefined;
  const names = text.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      throw new UserError(`--only: unknown scenario "${name}" (one of ${SCENARIOS.join(', ')})`, 2);
    }
  }
  return names as ScenarioName[];
}

/** The figures of an earlier results file, read before the (long) run so a bad path fails at once. */
async function readBaseline(path: string): Promise<readonly Figure[]> {
  let results: Partial<BenchResults>;
  try {
    results = JSON.parse(await readFile(path, 'utf8')) as Partial<BenchResults>;
  } catch (error) {
    throw new UserError(`--compare: cannot read ${path}: ${(error as Error).message}`, 2);
  }
  if (!Array.isArray(results.figures)) throw new UserError(`--compare: ${path} holds no bench figures`, 2);
  return results.figures;
}

async function bench(flags: BenchFlags): Promise<void> {
  const only = parseOnly(flags.only);
  const baseline = flags.compare === undefined ? undefined : await readBaseline(resolve(flags.compare));
  const postgresUrl = flags.postgres ?? process.env.TEST_DATABASE_URL;
  const mode = flags.quick ? 'quick' : 'full';
  if (flags.replicas > 1 && !postgresUrl) {
    throw new UserError(
      '--replicas: several replicas need Postgres (--postgres URL or TEST_DATABASE_URL)',
      2,
    );
  }
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  log(
    `${mode} run${only ? ` (${only.join(', ')})` : ''}; databases: pglite${postgresUrl ? ', postgres' : ''}`,
  );
  const results = await runBenchRepeated(flags.repeat, {
    sizes: flags.quick ? QUICK : FULL,
    mode,
    ...(only ? { only } : {}),
    ...(postgresUrl ? { postgresUrl } : {}),
    rolloutOnPostgres: flags.rolloutOnPostgres ?? !flags.quick,
    replicas: flags.replicas,
    log,
  });
  process.stdout.write(`${formatTable(results.figures)}\n`);
  const out = resolve(flags.out);
  await writeResults(out, results);
  process.stdout.write(
    `\n${results.figures.length} figures${flags.repeat > 1 ? ` (medians of ${flags.repeat} runs)` : ''} in ${results.seconds.toFixed(0)} s; written to ${out}\n`,
  );
  if (baseline) {
    const comparisons = compareFigures(baseline, results.figures);
    process.stdout.write(`\ncompared with ${flags.compare}:\n${formatComparison(comparisons)}\n`);
    const worse = comparisons.filter((c) => c.verdict === 'worse');
    if (worse.length > 0) {
      process.stderr.write(`bench: worse than before: ${worse.map((c) => c.id).join(', ')}\n`);
      process.exitCode = 1;
    }
  }
  if (results.failures.length > 0) {
    for (const f of results.failures) process.stderr.write(`bench: ${f.scenario} failed: ${f.error}\n`);
    process.exitCode = 1;
  }
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(
      'benchmarks: otactl against the raw CoAP ceiling (prints a table, writes bench-results.json)',
    )
    .option('--quick', 'short run (under two minutes)')
    .option('--only <names>', `comma-separated scenarios: ${SCENARIOS.join(', ')}`)
    .option(
      '--postgres <url>',
      'also measure on Postgres (default: $TEST_DATABASE_URL); a fresh schema per run',
    )
    .option('--rollout-on-postgres', 'roll out on Postgres too (default in the full run)')
    .addOption(
      countOption(
        '--replicas <n>',
        'roll out on Postgres only, with n otactl run processes sharing the database and the fleet (1: one controller inside the bench process)',
        { default: 1 },
      ),
    )
    .addOption(
      countOption('--repeat <n>', 'run the scenarios n times and report medians with their spread', {
        default: 1,
      }),
    )
    .option(
      '--compare <file>',
      'compare with an earlier results file; exits 1 when a figure is worse beyond the spread of both (needs --repeat 3 or more on both)',
    )
    .option('--out <file>', 'results file', 'bench-results.json')
    .action((flags: BenchFlags) => bench(flags));
}
