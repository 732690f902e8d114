import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Runs git in `cwd` with a fixed identity, no signing and no user configuration. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec(
    'git',
    [
      '-c',
      'user.name=Test Author',
      '-c',
      'user.email=test@example.com',
      '-c',
      'commit.gpgsign=false',
      ...args,
    ],
    { cwd, env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } },
  );
  return stdout.trim();
}

export async function commitAll(cwd: string, subject: string): Promise<string> {
  await git(cwd, 'add', '-A');
  await git(cwd, 'commit', '-q', '-m', subject);
  return git(cwd, 'rev-parse', 'HEAD');
}

/**
 * A bare repository `<root>/remote.git` whose `main` has one commit of `files` (paths relative to
 * the repository), and the author's clone `<root>/author` to commit and push more from.
 */
export async function createRemote(
  root: string,
  files: Readonly<Record<string, string>>,
): Promise<{ remote: string; author: string; head: string }> {
  const remote = join(root, 'remote.git');
  const author = join(root, 'author');
  await git(root, 'init', '-q', '--bare', '-b', 'main', remote);
  await git(root, 'clone', '-q', remote, author);
  await git(author, 'checkout', '-q', '-b', 'main');
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(author, file)), { recursive: true });
    await writeFile(join(author, file), text);
  }
  const head = await commitAll(author, 'first');
  await git(author, 'push', '-q', 'origin', 'main');
  return { remote, author, head };
}
