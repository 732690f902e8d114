import type { Command } from 'commander';
import { dbOption } from '../options.js';
import { notYetImplemented } from '../user-error.js';

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description(
      'every firmware update of one device, with codes, timestamps and the commit that asked for it',
    )
    .argument('<endpoint>', 'device endpoint name')
    .addOption(dbOption())
    .option('--server <url>', "a running controller's HTTP API")
    .option('--json', 'machine-readable output')
    .action(() => notYetImplemented('history', 7));
}
