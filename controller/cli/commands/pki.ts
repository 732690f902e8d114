import { join } from 'node:path';
import type { Command } from 'commander';
import { initPki } from '../../pki/init-pki.js';
import { TLS_FILES } from '../../pki/tls-files.js';
import { DEFAULT_HTTPS_PORT } from '../options.js';
import { UserError } from '../user-error.js';

interface PkiInitFlags {
  readonly host: string[];
  readonly out: string;
  readonly force?: boolean;
}

export function registerPki(program: Command): void {
  program
    .command('pki')
    .description("the project's own PKI for HTTPS firmware delivery")
    .command('init')
    .description('create a CA and a server certificate for the given host names')
    .requiredOption('--host <name...>', 'host names or addresses the certificate is for')
    .option('--out <dir>', 'output directory', './.otactl/tls')
    .option('--force', 'overwrite existing files')
    .action(async (flags: PkiInitFlags) => {
      const result = await initPki({ hosts: flags.host, outDir: flags.out, force: flags.force === true });
      switch (result.kind) {
        case 'invalid-host':
          throw new UserError(`pki init: ${result.message}`);
        case 'exists':
          throw new UserError(
            `pki init: ${result.files.join(', ')} already exist (use --force to overwrite)`,
          );
        case 'created': {
          const names = result.names.map((name) => `${name.kind.toUpperCase()}:${name.value}`).join(', ');
          process.stdout.write(
            `created a CA and a server certificate for ${names} in ${result.outDir}\n` +
              `devices must trust ${join(result.outDir, TLS_FILES.caCert)}; serve with: otactl run --tls-dir ${result.outDir} --https-port ${DEFAULT_HTTPS_PORT}\n`,
          );
        }
      }
    });
}
