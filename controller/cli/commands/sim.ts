import type { Command } from 'commander';

import { notYetImplemented } from '../user-error.js';

export function registerSim(program: Command): void {
  program
    .command('sim')
    .description('run simulated LwM2M devices against a server')
    .requiredOption('--server <uri>', 'LwM2M server, coap://HOST:PORT')
    .option('--count <n>', 'number of devices', '10')
    .option('--prefix <p>', 'endpoint name prefix', 'sim-')
    .option('--version <v>', 'initial firmware version', '1.0.0')
    .option('--model <m>', 'device model (3/0/1)', 'SIM1')
    .option('--faults <spec>', 'fault injection, e.g. download-fails=0.05')
    .option('--seed <s>', 'seed for deterministic fault assignment')
    .action(() => notYetImplemented('sim', 4));
}
