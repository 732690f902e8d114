import path from 'node:path';

import type { Command } from 'commander';

import { loadDesiredState } from '../../manifests/load-desired-state.js';
import { atFile } from '../../manifests/load-files.js';
import { formatProblem, type Problem } from '../../manifests/problem.js';
import { readRevisionBaseline } from '../../manifests/revision-baseline.js';
import { count, displayPath } from '../output-text.js';
import { UserError } from '../user-error.js';

interface ValidateFlags {
  readonly firmwareDir: string;
  readonly json?: boolean;
  readonly requireCommitted?: boolean;
  readonly against?: string;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description(
      'validate manifests; prints path:line:col: message for every problem (exit 0 valid, 1 invalid, 2 a bad flag, such as an --against revision that cannot be read)',
    )
    .argument('[dir]', 'manifests directory', './rollouts')
    .option('--firmware-dir <dir>', 'firmware images directory', './firmware')
    .option('--json', 'machine-readable output')
    .option('--require-committed', 'refuse manifests with changes not committed to git')
    .option(
      '--against <revision>',
      'refuse a Rollout whose target falls below what it installed at this git revision, without allowDowngrade (default: HEAD, in a git work tree)',
    )
    .action(async (dir: string, flags: ValidateFlags) => {
      process.exitCode = await validate(dir, flags);
    });
}

/** Exit code 0 when the manifests are valid, 1 when not; no database, no network. */
async function validate(dir: string, flags: ValidateFlags): Promise<number> {
  // The controller refuses a downgrade against its last valid state; here, against a commit.
  const baseline = await readRevisionBaseline(dir, flags.against);
  // An explicit --against that cannot be read is a bad flag value: one line, exit 2.
  if (baseline.kind === 'error' && flags.against !== undefined) throw new UserError(baseline.message, 2);
  const loaded = await loadDesiredState(dir, {
    firmwareDir: flags.firmwareDir,
    git: flags.requireCommitted === true,
    requireCommitted: flags.requireCommitted === true,
    previous: baseline.kind === 'ok' ? baseline.targets : undefined,
    displayPath,
  });
  // The default baseline (HEAD) that cannot be read only warns.
  const result =
    baseline.kind === 'error'
      ? { ...loaded, warnings: [...loaded.warnings, atFile(path.resolve(dir), baseline.message)] }
      : loaded;
  const problems = result.ok ? [] : result.problems;
  const display = displayPath;
  if (flags.json) {
    const entries = [
      ...problems.map((p) => ({ ...toJson(p, display), severity: 'error' })),
      ...result.warnings.map((p) => ({ ...toJson(p, display), severity: 'warning' })),
    ];
    process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    return result.ok ? 0 : 1;
  }
  const lines = [
    ...problems.map((p) => formatProblem(p, display)),
    ...result.warnings.map((p) => formatProblem({ ...p, message: `warning: ${p.message}` }, display)),
  ];
  if (result.ok) {
    const { firmware, groups, rollouts } = result.state;
    lines.push(
      `${display(path.resolve(dir))}: valid: ${count(firmware.size, 'firmware', 'firmware')}, ${count(groups.size, 'group')}, ${count(rollouts.size, 'rollout')}${result.warnings.length > 0 ? `, ${count(result.warnings.length, 'warning')}` : ''} (generation ${result.state.generation.slice(0, 12)})`,
    );
  } else {
    lines.push(`${display(path.resolve(dir))}: invalid: ${count(problems.length, 'problem')}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return result.ok ? 0 : 1;
}

function toJson(p: Problem, display: (file: string) => string) {
  return { path: display(p.file), line: p.line, col: p.col, message: p.message };
}
