import type { Command } from 'commander';
import { dbOption } from '../options.js';
import { notYetImplemented } from '../user-error.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations and exit')
    .addOption(dbOption())
    .action(() => notYetImplemented('migrate', 2));
}
