import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export type GitResult =
  | { readonly kind: 'ok'; readonly stdout: string }
  | { readonly kind: 'failed'; readonly exitCode: number | null; readonly stderr: string };

export interface GitRunOptions {
  readonly cwd: string;
  /** Called with each chunk of stdout; return true to stop git early (the result is then 'ok'). */
  readonly onStdout?: (chunk: string) => boolean;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Runs the `git` CLI without a shell. Settings that change output (quoting, pager, colours,
 * prompts) are fixed so parsing does not depend on the user's configuration.
 */
export function runGit(args: readonly string[], options: GitRunOptions): Promise<GitResult> {
  return new Promise((resolve) => {
    let child: ChildProcessByStdio<null, Readable, Readable>;
    try {
      child = spawn('git', ['-c', 'core.quotepath=off', '-c', 'color.ui=false', '--no-pager', ...args], {
        cwd: options.cwd,
        env: { ...process.env, ...options.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      // Some failures are thrown, not emitted: a cwd that is a file gives a synchronous ENOTDIR.
      resolve({
        kind: 'failed',
        exitCode: null,
        stderr: error instanceof Error ? error.message : String(error),
      });
      return;
    }
    let stdout = '';
    let stderr = '';
    let stopped = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (stopped) return;
      if (options.onStdout) {
        if (options.onStdout(chunk)) {
          stopped = true;
          child.kill();
        }
      } else {
        stdout += chunk;
      }
    });
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < 64 * 1024) stderr += chunk;
    });
    child.on('error', (error) => resolve({ kind: 'failed', exitCode: null, stderr: error.message }));
    child.on('close', (code) => {
      if (code === 0 || stopped) resolve({ kind: 'ok', stdout });
      else resolve({ kind: 'failed', exitCode: code, stderr: stderr.trim() });
    });
  });
}
