import { vi } from 'vitest';
import { main } from '../../controller/cli/main.js';

/**
 * Runs an `otactl` command in this process, through the same `main` the executable calls, with
 * what it writes to standard output and error captured: far cheaper than a process per command.
 * `runOtactl` (run-cli.ts) is for what only a real process shows (exit status, standard input).
 */
export async function runMain(
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main([...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    // A command that sets an exit code (validate, status) must not leak it into the next one.
    process.exitCode = undefined;
  }
}
