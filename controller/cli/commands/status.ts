import type { Command } from 'commander';
import { dbOption } from '../options.js';
import { notYetImplemented } from '../user-error.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('rollout phase, counts, progress and recent failures')
    .argument('[rollout]', 'one rollout')
    .addOption(dbOption())
    .option('--server <url>', "a running controller's HTTP API")
    .option('--watch', 'refresh until interrupted')
    .option('--json', 'machine-readable output')
    .action(() => notYetImplemented('status', 7));
}
