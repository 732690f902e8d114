import type { Command } from 'commander';

import { notYetImplemented } from '../user-error.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('validate manifests; prints path:line:col: message for every problem')
    .argument('[dir]', 'manifests directory', './rollouts')
    .option('--firmware-dir <dir>', 'firmware images directory', './firmware')
    .option('--json', 'machine-readable output')
    .action(() => notYetImplemented('validate', 5));
}
