import { main } from './main.js';

/** Process entry point: maps the outcome of `main` to an exit code, never a bare stack trace. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`otactl: internal error (please report): ${detail}\n`);
    process.exitCode = 70;
  }
}
