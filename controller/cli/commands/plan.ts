import type { Command } from 'commander';
import { dbOption } from '../options.js';
import { notYetImplemented } from '../user-error.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('show what the controller would do now, rollout by rollout')
    .option('--manifests <dir>', 'manifests directory', './rollouts')
    .option('--firmware-dir <dir>', 'firmware images directory', './firmware')
    .addOption(dbOption())
    .option('--server <url>', "a running controller's HTTP API")
    .option('--json', 'machine-readable output')
    .action(() => notYetImplemented('plan', 8));
}
