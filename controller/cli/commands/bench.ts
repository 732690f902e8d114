import type { Command } from 'commander';

import { notYetImplemented } from '../user-error.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('benchmarks: otactl against the raw CoAP ceiling')
    .option('--quick', 'short run (under two minutes)')
    .action(() => notYetImplemented('bench', 10));
}
