import type { Command } from 'commander';
import { renderHistory } from '../../api/report/index.js';
import { dbOption } from '../options.js';
import { UserError } from '../user-error.js';
import { openReadSource, type ReadSourceFlags, readOrFail } from './status.js';

interface HistoryFlags extends ReadSourceFlags {
  readonly json?: boolean;
}

async function runHistory(endpoint: string, flags: HistoryFlags): Promise<void> {
  const source = await openReadSource(flags);
  try {
    const device = await readOrFail(() => source.api.device(endpoint));
    if (!device)
      throw new UserError(`unknown device "${endpoint}": no device with this endpoint name has registered`);
    process.stdout.write(`${flags.json ? JSON.stringify(device, null, 2) : renderHistory(device)}\n`);
  } finally {
    await source.close();
  }
}

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description(
      'every firmware update of one device, with codes, timestamps and the commit that asked for it',
    )
    .argument('<endpoint>', 'device endpoint name')
    .addOption(dbOption())
    .option('--server <url>', "a running controller's HTTP API")
    .option('--api-token <token>', 'bearer token for --server (default: OTACTL_API_TOKEN)')
    .option('--json', 'machine-readable output')
    .action((endpoint: string, flags: HistoryFlags) => runHistory(endpoint, flags));
}
