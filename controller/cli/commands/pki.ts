import type { Command } from 'commander';

import { notYetImplemented } from '../user-error.js';

export function registerPki(program: Command): void {
  program
    .command('pki')
    .description("the project's own PKI for HTTPS firmware delivery")
    .command('init')
    .description('create a CA and a server certificate for the given host names')
    .requiredOption('--host <name...>', 'host names or addresses the certificate is for')
    .option('--out <dir>', 'output directory', './.otactl/tls')
    .action(() => notYetImplemented('pki init', 6));
}
