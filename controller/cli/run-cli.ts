import { main } from './main.js';

/** Process entry point: maps the outcome of `main` to an exit code, never a bare stack trace. */
export async function runCli(argv: string[]): Promise<void> {
  // Output piped into a reader that stopped (`otactl ... | head`): what is left is not wanted, and
  // that is no error; anything else on standard output is reported by the write that failed.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`otactl: internal error (please report): ${detail}\n`);
    process.exitCode = 70;
  }
}
