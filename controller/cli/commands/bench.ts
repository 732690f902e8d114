import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  FULL,
  formatTable,
  QUICK,
  runBench,
  SCENARIOS,
  type ScenarioName,
  writeResults,
} from '../../../bench/index.js';
import { UserError } from '../user-error.js';

interface BenchFlags {
  readonly quick?: boolean;
  readonly only?: string;
  readonly postgres?: string;
  readonly out: string;
  readonly rolloutOnPostgres?: boolean;
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

async function bench(flags: BenchFlags): Promise<void> {
  const only = parseOnly(flags.only);
  const postgresUrl = flags.postgres ?? process.env.TEST_DATABASE_URL;
  const mode = flags.quick ? 'quick' : 'full';
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  log(
    `${mode} run${only ? ` (${only.join(', ')})` : ''}; databases: pglite${postgresUrl ? ', postgres' : ''}`,
  );
  const results = await runBench({
    sizes: flags.quick ? QUICK : FULL,
    mode,
    ...(only ? { only } : {}),
    ...(postgresUrl ? { postgresUrl } : {}),
    rolloutOnPostgres: flags.rolloutOnPostgres ?? !flags.quick,
    log,
  });
  process.stdout.write(`${formatTable(results.figures)}\n`);
  const out = resolve(flags.out);
  await writeResults(out, results);
  process.stdout.write(
    `\n${results.figures.length} figures in ${results.seconds.toFixed(0)} s; written to ${out}\n`,
  );
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
    .option('--out <file>', 'results file', 'bench-results.json')
    .action((flags: BenchFlags) => bench(flags));
}
