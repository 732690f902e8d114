import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { firmwareManifestYaml, packImage } from '../../firmware/image/index.js';
import { UserError } from '../user-error.js';

interface PackOptions {
  readonly version: string;
  readonly model: string;
  readonly out: string;
  readonly force?: boolean;
}

async function pack(payloadFile: string, options: PackOptions): Promise<void> {
  let payload: Buffer;
  try {
    payload = await readFile(payloadFile);
  } catch (error) {
    throw new UserError(`cannot read payload ${payloadFile}: ${(error as Error).message}`);
  }
  let image: Buffer;
  try {
    image = packImage({ version: options.version, model: options.model, payload });
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  try {
    // An image a manifest already names by its sha256 is not replaced by accident (as pki init).
    await writeFile(options.out, image, { flag: options.force ? 'w' : 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UserError(`${options.out} already exists (use --force to overwrite)`);
    throw new UserError(`cannot write ${options.out}: ${(error as Error).message}`);
  }
  const sha256 = createHash('sha256').update(image).digest('hex');
  const file = basename(options.out);
  process.stdout.write(
    `# sha256 ${sha256}  ${file} (${image.length} bytes)\n` +
      firmwareManifestYaml({ version: options.version, model: options.model, file, sha256 }),
  );
}

export function registerFirmware(program: Command): void {
  const firmware = program.command('firmware').description('firmware image tools');
  firmware
    .command('pack')
    .description(
      'pack a payload into a simulated-firmware image; prints its sha256 and a ready-to-commit Firmware manifest on stdout',
    )
    .requiredOption('--version <v>', 'firmware version the image reports (3/0/3)')
    .requiredOption('--model <m>', 'device model the image is for (3/0/1)')
    .requiredOption('--out <file>', 'output image file (refused if it exists, unless --force)')
    .option('--force', 'overwrite an existing --out file')
    .argument('<payload>', 'payload file')
    .action((payload: string, options: PackOptions) => pack(payload, options));
}
