import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { TLS_PSK_WITH_AES_128_CBC_SHA256, TLS_PSK_WITH_AES_128_CCM_8 } from '../../dtls/index.js';
import {
  endpointName,
  FAULT_HELP,
  FleetOptionsError,
  formatSummary,
  parseFaultSpec,
  startFleet,
} from '../../sim/index.js';
import { readPskFile, writePskFile } from '../../sim/psk-file.js';
import { countOption, FlagError, parseWhole } from '../options.js';
import { UserError } from '../user-error.js';

interface SimOptions {
  readonly server?: readonly string[];
  readonly spread?: boolean;
  readonly pskFile?: string;
  readonly writePskFile?: string;
  readonly cipher: string;
  readonly count: number;
  readonly prefix: string;
  readonly version: string;
  readonly model: string;
  readonly faults?: string;
  readonly seed?: string;
  readonly ca?: string;
  readonly lifetime: number;
  readonly staggerMs: number;
  readonly protocols: string;
  readonly downloadBase?: string;
  readonly deregisterOnReboot?: boolean;
}

const CIPHERS = { ccm8: [TLS_PSK_WITH_AES_128_CCM_8], cbc: [TLS_PSK_WITH_AES_128_CBC_SHA256] } as const;

/** `--write-psk-file`: keys for the endpoint names the same flags would simulate, then exit. */
async function writeKeys(o: SimOptions, path: string): Promise<void> {
  const count = o.count;
  const names = Array.from({ length: count }, (_, i) => endpointName(o.prefix, i + 1, count));
  try {
    await writePskFile(path, names);
  } catch (error) {
    throw new UserError(`cannot write ${path}: ${(error as Error).message}`);
  }
  process.stderr.write(
    `otactl sim: wrote ${count} pre-shared keys to ${path}; load them with: otactl credentials import ${path}\n`,
  );
}

async function runSim(o: SimOptions): Promise<void> {
  if (o.writePskFile !== undefined) {
    await writeKeys(o, o.writePskFile);
    return;
  }
  if (o.server === undefined || o.server.length === 0)
    throw new UserError('--server is required (coap://HOST:PORT or coaps://HOST:PORT)', 2);
  const cipherSuites = CIPHERS[o.cipher as keyof typeof CIPHERS];
  if (cipherSuites === undefined) throw new UserError(`--cipher must be ccm8 or cbc, got ${o.cipher}`, 2);
  // Checked here to name the flag, as demo does; the fleet parses it again.
  const faults = o.faults === undefined ? undefined : parseFaultSpec(o.faults);
  if (faults && !faults.ok) throw new FlagError('--faults', faults.error);
  let psk: Awaited<ReturnType<typeof readPskFile>> | undefined;
  if (o.pskFile !== undefined) {
    psk = await readPskFile(o.pskFile);
    if (!psk.ok) throw new UserError(psk.error, 2);
  }
  const protocols = o.protocols.split(',').map((p) => parseWhole('--protocols', p.trim(), 0, 255));
  const seed = o.seed ?? String(Math.floor(Math.random() * 2 ** 31));
  let ca: string | undefined;
  if (o.ca !== undefined) {
    try {
      ca = await readFile(o.ca, 'utf8');
    } catch (error) {
      throw new UserError(`cannot read CA certificate ${o.ca}: ${(error as Error).message}`);
    }
  }
  let fleet: Awaited<ReturnType<typeof startFleet>>;
  try {
    fleet = await startFleet({
      server: o.server,
      spread: o.spread === true,
      count: o.count,
      prefix: o.prefix,
      version: o.version,
      model: o.model,
      seed,
      lifetime: o.lifetime,
      staggerMs: o.staggerMs,
      protocols,
      deregisterOnReboot: o.deregisterOnReboot === true,
      cipherSuites,
      ...(psk?.ok ? { psk: psk.psk } : {}),
      ...(o.faults === undefined ? {} : { faults: o.faults }),
      ...(ca === undefined ? {} : { ca }),
      ...(o.downloadBase === undefined ? {} : { downloadBase: o.downloadBase }),
    });
  } catch (error) {
    if (error instanceof FleetOptionsError) throw new UserError(error.message, 2);
    throw error;
  }
  const tty = process.stderr.isTTY === true;
  const against =
    o.server.length === 1 ? o.server[0] : `${o.server.join(', ')}${o.spread ? ' (spread)' : ''}`;
  process.stderr.write(`otactl sim: ${fleet.devices.length} devices against ${against}, seed ${seed}\n`);
  let last = '';
  const print = (final = false) => {
    const line = formatSummary(fleet.summary());
    if (tty) process.stderr.write(`\r\u001b[2K${line}${final ? '\n' : ''}`);
    else if (line !== last || final) process.stderr.write(`${line}\n`);
    last = line;
  };
  // On a TTY the line is redrawn every second; elsewhere (logs, CI) it is printed when it changes, at most every 5 s.
  const ticker = setInterval(print, tty ? 1000 : 5000);
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  clearInterval(ticker);
  print(true);
  process.stderr.write('otactl sim: de-registering...\n');
  await fleet.stop();
  process.stderr.write('otactl sim: stopped\n');
}

/** `--server a --server b,c`: every server in order. */
function collectServers(value: string, previous: readonly string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((uri) => uri.trim())
      .filter((uri) => uri !== ''),
  ];
}

export function registerSim(program: Command): void {
  program
    .command('sim')
    .description('run simulated LwM2M devices against a server until SIGINT/SIGTERM (then de-register all)')
    .option(
      '--server <uri>',
      'LwM2M server, coap://HOST:PORT, or coaps://HOST:PORT (DTLS, needs --psk-file); repeat it or give a comma list for several: a device whose Update goes unanswered registers again, then with the next server',
      collectServers,
    )
    .option('--spread', 'with several servers, device i starts on server i mod N (default: all on the first)')
    .option('--psk-file <file>', 'pre-shared keys by endpoint (the file `otactl credentials import` reads)')
    .option(
      '--write-psk-file <file>',
      'write random keys for the --count/--prefix endpoint names to a new file (mode 0600) and exit',
    )
    .option('--cipher <suite>', 'DTLS cipher suite the devices offer: ccm8 or cbc', 'ccm8')
    .addOption(countOption('--count <n>', 'number of devices', { default: 10 }))
    .option('--prefix <p>', 'endpoint name prefix (names are PREFIX000001...)', 'sim-')
    .option('--version <v>', 'initial firmware version (3/0/3)', '1.0.0')
    .option('--model <m>', 'device model (3/0/1); images for another model are refused (Result 6)', 'SIM1')
    .option('--faults <spec>', 'fault injection, see below')
    .option('--seed <s>', 'seed for the fault assignment (default: random, printed at start)')
    .option('--ca <file>', 'PEM CA certificate the devices trust for HTTPS downloads')
    .addOption(
      countOption('--lifetime <s>', 'registration lifetime in seconds (Update at 80%)', { default: 300 }),
    )
    .addOption(
      countOption('--stagger-ms <ms>', 'delay between two devices registering; 0 registers all in a burst', {
        default: 1,
        min: 0,
        max: 60_000,
      }),
    )
    .option('--protocols <list>', 'Firmware Update Protocol Support 5/0/8 (0 CoAP, 2 HTTP, 3 HTTPS)', '0,2,3')
    .option('--download-base <url>', 'base URL for relative Package URIs such as /binaries/FILE')
    .option(
      '--deregister-on-reboot',
      'de-register before the post-update reboot (default: just register again)',
    )
    .addHelpText('after', `\n${FAULT_HELP}\n`)
    .action((options: SimOptions) => runSim(options));
}
