import { Command, CommanderError } from 'commander';
import { OTACTL_VERSION } from '../app/version.js';
import { registerBench } from './commands/bench.js';
import { registerCredentials } from './commands/credentials.js';
import { registerDemo } from './commands/demo.js';
import { registerFirmware } from './commands/firmware.js';
import { registerHistory } from './commands/history.js';
import { registerMigrate } from './commands/migrate.js';
import { registerPki } from './commands/pki.js';
import { registerPlan } from './commands/plan.js';
import { registerRun } from './commands/run.js';
import { registerSim } from './commands/sim.js';
import { registerStatus } from './commands/status.js';
import { registerValidate } from './commands/validate.js';
import { USAGE_EXIT_CODE } from './options.js';
import { UserError } from './user-error.js';

export function buildProgram(): Command {
  const program = new Command('otactl')
    .description('Declarative GitOps rollout controller for firmware updates of LwM2M devices')
    .version(OTACTL_VERSION)
    // A usage error is one line (see main); `--help` shows the rest.
    .configureOutput({ outputError: () => {} })
    // Subcommands own their options: `sim --version V` is the device firmware, not otactl's version.
    .enablePositionalOptions()
    .exitOverride();
  for (const register of [
    registerRun,
    registerMigrate,
    registerValidate,
    registerPlan,
    registerStatus,
    registerHistory,
    registerSim,
    registerFirmware,
    registerPki,
    registerCredentials,
    registerDemo,
    registerBench,
  ]) {
    register(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExit(error, commandPath(program, argv));
    if (error instanceof UserError) {
      process.stderr.write(`otactl: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}

/** Commander's own exits: help and version as they are, a usage error as one line with exit 2. */
function commanderExit(error: CommanderError, command: string): number {
  if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code)) {
    return error.exitCode;
  }
  const message = error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
  process.stderr.write(`otactl: ${message} (see ${command} --help)\n`);
  return USAGE_EXIT_CODE;
}

/** `otactl pki init`: the (sub)command the arguments name, for the hint after a usage error. */
function commandPath(program: Command, argv: readonly string[]): string {
  const names = [program.name()];
  let command = program;
  for (const arg of argv) {
    const sub = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (sub === undefined) break;
    names.push(sub.name());
    command = sub;
  }
  return names.join(' ');
}
