import type { Command } from 'commander';

import { notYetImplemented } from '../user-error.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('one-command demo: controller, simulated fleet and a 3-step canary rollout')
    .option('--keep', 'leave it running at the end')
    .action(() => notYetImplemented('demo', 9));
}
