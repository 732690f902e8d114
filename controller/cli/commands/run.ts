import type { Command } from 'commander';
import { dbOption, parsePort } from '../options.js';
import { notYetImplemented } from '../user-error.js';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the controller: LwM2M server, firmware servers, manifest watcher and reconciler')
    .option('--manifests <dir>', 'manifests directory', './rollouts')
    .option('--firmware-dir <dir>', 'firmware images directory', './firmware')
    .addOption(dbOption())
    .option('--coap-port <n>', 'LwM2M/CoAP UDP port', parsePort, 5683)
    .option('--http-port <n>', 'HTTP port (firmware, API, metrics, dashboard)', parsePort, 8080)
    .option('--https-port <n>', 'HTTPS firmware port (needs --tls-dir)', parsePort)
    .option('--tls-dir <dir>', 'directory made by `otactl pki init`')
    .option('--public-host <host>', 'host name or address devices use to reach this controller')
    .action(() => notYetImplemented('run', 7));
}
