import type { Command } from 'commander';
import { DEMO_DEFAULTS, DemoSetupError, QUICK, runDemo } from '../../demo/index.js';
import { parseFaultSpec } from '../../sim/index.js';
import { countOption, FlagError, parseDurationFlag } from '../options.js';
import { UserError } from '../user-error.js';

interface DemoFlags {
  readonly keep?: boolean;
  readonly quick?: boolean;
  readonly devices?: number;
  readonly pause?: string;
  readonly faults?: string;
  readonly seed: string;
  /** False with --no-dtls. */
  readonly dtls: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'one-command demo: the controller on an in-memory database, a simulated fleet and a 3-step canary rollout',
    )
    .option('--keep', 'leave everything running after the summary, until Ctrl-C')
    .addOption(
      countOption('--devices <n>', `simulated devices (default ${DEMO_DEFAULTS.devices})`, { max: 100_000 }),
    )
    .option('--pause <duration>', "replace the example Rollout's pauses (e.g. 1s, 30s)")
    .option('--quick', `a short run: ${QUICK.devices} devices, ${QUICK.pause} pauses`)
    .option(
      '--faults <spec>',
      'faults injected into the simulated devices (see otactl sim --help)',
      DEMO_DEFAULTS.faults,
    )
    .option('--seed <s>', 'which devices get faults', DEMO_DEFAULTS.seed)
    .option(
      '--no-dtls',
      'the fleet over plain CoAP instead of CoAP over DTLS with a pre-shared key per device',
    )
    .action((flags: DemoFlags) => demo(flags));
}

async function demo(flags: DemoFlags): Promise<void> {
  const devices = flags.devices ?? (flags.quick ? QUICK.devices : DEMO_DEFAULTS.devices);
  const pause = flags.pause ?? (flags.quick ? QUICK.pause : undefined);
  // Checked here, written into the example Rollout as given.
  if (pause !== undefined) parseDurationFlag('--pause', pause);
  const faults = flags.faults ?? DEMO_DEFAULTS.faults;
  const parsed = parseFaultSpec(faults);
  if (!parsed.ok) throw new FlagError('--faults', parsed.error);

  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    // A second Ctrl-C while stopping: give up on a clean stop.
    if (interrupts > 1) process.exit(130);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await runDemo({
      devices,
      faults,
      seed: flags.seed,
      ...(pause !== undefined ? { pause } : {}),
      keep: flags.keep === true,
      transport: flags.dtls ? 'coaps' : 'coap',
      signal: abort.signal,
      out: process.stdout,
    });
    process.exitCode = result.exitCode;
  } catch (error) {
    if (error instanceof DemoSetupError) throw new UserError(`demo: ${error.message}`);
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
