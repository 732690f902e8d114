import type { Command } from 'commander';
import { notYetImplemented } from '../user-error.js';

export function registerFirmware(program: Command): void {
  const firmware = program.command('firmware').description('firmware image tools');
  firmware
    .command('pack')
    .description('pack a payload into a simulated-firmware image; prints its sha256 and a Firmware manifest')
    .requiredOption('--version <v>', 'firmware version the image reports (3/0/3)')
    .requiredOption('--model <m>', 'device model the image is for (3/0/1)')
    .requiredOption('--out <file>', 'output image file')
    .argument('<payload>', 'payload file')
    .action(() => notYetImplemented('firmware pack', 4));
}
