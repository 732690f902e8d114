import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import {
  type CredentialChange,
  type CredentialFileFormat,
  type CredentialFileProblem,
  CredentialStore,
  checkEndpoint,
  checkPskIdentity,
  PskKey,
  type PutCredentialsResult,
  parseCredentialFile,
  parsePskKeyHex,
} from '../../credentials/index.js';
import { openStoreForCli } from '../open-store.js';
import { dbOption } from '../options.js';
import { count } from '../output-text.js';
import { UserError } from '../user-error.js';

const STDIN = '-';
/** Problems printed before "and N more": enough to see a pattern, not a flood. */
const MAX_PROBLEMS_SHOWN = 20;
const LIST_PAGE = 1_000;

interface DbFlags {
  readonly db?: string;
}

interface AddFlags extends DbFlags {
  readonly pskIdentity: string;
  readonly pskKey?: string;
  readonly pskKeyFile?: string;
}

async function readInput(path: string): Promise<Buffer> {
  try {
    if (path === STDIN) {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    }
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read ${path === STDIN ? 'standard input' : path}${code ? ` (${code})` : ''}`);
  }
}

async function withStore<T>(flags: DbFlags, run: (store: CredentialStore) => Promise<T>): Promise<T> {
  const opened = await openStoreForCli(flags.db);
  try {
    return await run(new CredentialStore(opened.db));
  } finally {
    await opened.close();
  }
}

function describeChange(change: CredentialChange): string {
  switch (change.kind) {
    case 'added':
      return `added credentials for ${change.endpoint} (identity ${change.identity})`;
    case 'updated': {
      const what = [
        ...(change.previousIdentity !== change.identity
          ? [`identity ${change.previousIdentity} -> ${change.identity}`]
          : []),
        ...(change.keyChanged ? ['new key'] : []),
      ];
      return `updated credentials of ${change.endpoint}: ${what.join(', ')}`;
    }
    case 'unchanged':
      return `credentials of ${change.endpoint} unchanged (identity ${change.identity})`;
    case 'removed':
      return `removed credentials of ${change.endpoint} (identity ${change.identity})`;
  }
}

async function readKeyFlag(flags: AddFlags): Promise<PskKey> {
  if ((flags.pskKey === undefined) === (flags.pskKeyFile === undefined)) {
    throw new UserError('credentials add: give the key with exactly one of --psk-key or --psk-key-file', 2);
  }
  const [flag, text] =
    flags.pskKey !== undefined
      ? ['--psk-key', flags.pskKey]
      : ['--psk-key-file', (await readInput(flags.pskKeyFile!)).toString('utf8').trim()];
  const parsed = parsePskKeyHex(text);
  if (!parsed.ok) throw new UserError(`credentials add: ${flag}: the key ${parsed.reason}`, 2);
  return new PskKey(parsed.bytes);
}

async function runAdd(endpoint: string, flags: AddFlags): Promise<void> {
  for (const [what, check] of [
    ['endpoint', checkEndpoint(endpoint)],
    ['--psk-identity', checkPskIdentity(flags.pskIdentity)],
  ] as const) {
    if (!check.ok) throw new UserError(`credentials add: ${what} ${check.reason}`, 2);
  }
  const key = await readKeyFlag(flags);
  const result = await withStore(flags, (store) =>
    store.put([{ endpoint, identity: flags.pskIdentity, key }]),
  );
  if (result.kind === 'refused') {
    const problem = result.problems[0]!;
    throw new UserError(`credentials add: ${problem.field} ${problem.reason}; nothing changed`);
  }
  process.stdout.write(`${describeChange(result.changes[0]!)}\n`);
}

interface ImportFlags extends DbFlags {
  readonly format?: CredentialFileFormat;
}

function reportProblems(file: string, problems: readonly CredentialFileProblem[]): never {
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).map((p) => {
    return `${file}:${p.line}: ${p.field === undefined ? '' : `${p.field} `}${p.reason}`;
  });
  if (problems.length > shown.length) shown.push(`... and ${problems.length - shown.length} more`);
  process.stderr.write(`${shown.join('\n')}\n`);
  throw new UserError(
    `credentials import: ${count(problems.length, 'problem')} in ${file}; nothing imported`,
  );
}

async function runImport(path: string, flags: ImportFlags): Promise<void> {
  const file = path === STDIN ? '<stdin>' : path;
  const parsed = parseCredentialFile(await readInput(path), flags.format ? { format: flags.format } : {});
  if (!parsed.ok) reportProblems(file, parsed.problems);
  const { entries } = parsed;
  const result: PutCredentialsResult = await withStore(flags, (store) =>
    store.put(entries.map((entry) => entry.credential)),
  );
  if (result.kind === 'refused') {
    reportProblems(
      file,
      result.problems.map((p) => ({ line: entries[p.index]!.line, field: p.field, reason: p.reason })),
    );
  }
  const count = (kind: CredentialChange['kind']) => result.changes.filter((c) => c.kind === kind).length;
  process.stdout.write(
    `imported ${file}: ${count('added')} added, ${count('updated')} updated, ${count('unchanged')} unchanged\n`,
  );
}

async function runList(flags: DbFlags & { readonly json?: boolean }): Promise<void> {
  await withStore(flags, async (store) => {
    let after: string | undefined;
    let listed = 0;
    if (flags.json) process.stdout.write('[');
    // Page by page, so 100,000 devices never sit in memory at once.
    for (;;) {
      const page = await store.list({ ...(after === undefined ? {} : { after }), limit: LIST_PAGE });
      const lines = page.map((c, i) =>
        flags.json
          ? `${listed + i === 0 ? '' : ','}\n  ${JSON.stringify({ endpoint: c.endpoint, identity: c.identity, createdAt: c.createdAt, updatedAt: c.updatedAt })}`
          : `${c.endpoint}\t${c.identity}\n`,
      );
      if (lines.length > 0) process.stdout.write(lines.join(''));
      listed += page.length;
      if (page.length < LIST_PAGE) break;
      after = page.at(-1)!.endpoint;
    }
    if (flags.json) process.stdout.write(listed === 0 ? ']\n' : '\n]\n');
    else if (listed === 0) process.stderr.write('no credentials stored\n');
  });
}

async function runRemove(endpoint: string, flags: DbFlags): Promise<void> {
  const removed = await withStore(flags, (store) => store.remove(endpoint));
  if (removed === undefined)
    throw new UserError(`credentials remove: no credentials for endpoint "${endpoint}"`);
  process.stdout.write(`${describeChange(removed)}\n`);
}

export function registerCredentials(program: Command): void {
  const credentials = program
    .command('credentials')
    .description('pre-shared keys of devices that connect over DTLS, kept in the database (never in git)');
  credentials
    .command('add')
    .description('store (or replace) the credentials of one device')
    .argument('<endpoint>', 'device endpoint name')
    .requiredOption('--psk-identity <id>', 'the PSK identity the device sends')
    .option('--psk-key <hex>', 'the key in hex; visible to other users in `ps`: prefer --psk-key-file')
    .option('--psk-key-file <file>', 'a file holding the key in hex, or - to read it from standard input')
    .addOption(dbOption())
    .addHelpText(
      'after',
      '\nA key on the command line can be read by other users (ps, shell history). Keep it in a file\n' +
        '(--psk-key-file key.hex) or pipe it in: `otactl credentials add dev-1 --psk-identity dev-1 --psk-key-file - < key.hex`.',
    )
    .action((endpoint: string, flags: AddFlags) => runAdd(endpoint, flags));
  credentials
    .command('import')
    .description(
      'store the credentials in a CSV (endpoint,identity,key_hex) or JSON file, all or none; the same file twice changes nothing',
    )
    .argument('<file>', 'the file, or - for standard input')
    .addOption(
      new Option('--format <format>', 'default: JSON if the file starts with [').choices(['csv', 'json']),
    )
    .addOption(dbOption())
    .action((file: string, flags: ImportFlags) => runImport(file, flags));
  credentials
    .command('list')
    .description('endpoints with credentials and their identities (never the keys)')
    .option('--json', 'machine-readable output')
    .addOption(dbOption())
    .action((flags: DbFlags & { json?: boolean }) => runList(flags));
  credentials
    .command('remove')
    .description('delete the credentials of one device')
    .argument('<endpoint>', 'device endpoint name')
    .addOption(dbOption())
    .action((endpoint: string, flags: DbFlags) => runRemove(endpoint, flags));
}
