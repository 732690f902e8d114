import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedPgliteDataDir, TEST_DATABASE_URL } from '../helpers/databases.js';
import { type CliResult, runOtactl } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';

// Keys that must never be printed: distinctive hex that no other output would contain.
const KEY_1 = '5ec2e7a15ec2e7a15ec2e7a15ec2e7a1';
const KEY_2 = '5ec2e7b25ec2e7b25ec2e7b25ec2e7b25ec2e7b25ec2e7b25ec2e7b25ec2e7b2';
const KEY_3 = '5ec2e7c35ec2e7c35ec2e7c35ec2e7c3';
const SECRETS = [KEY_1, KEY_2, KEY_3].flatMap((k) => [k, k.toUpperCase(), k.slice(0, 12)]);

let dir: string;
let pgDatabase: string | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otactl-credentials-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  if (pgDatabase !== undefined) {
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`drop database if exists ${pgDatabase}`);
    await admin.end();
  }
});

/** Every output of every run of the file, checked for keys at the end of each test. */
const outputs: CliResult[] = [];
/** In this process (see `runMain`); `executable` runs the real `otactl` for what only a process shows. */
async function otactl(args: readonly string[]): Promise<CliResult> {
  const result = await runMain(args);
  outputs.push(result);
  return result;
}
async function executable(args: readonly string[], input?: string): Promise<CliResult> {
  const result = await runOtactl(args, input === undefined ? {} : { input });
  outputs.push(result);
  return result;
}

function expectNoKeyPrinted(): void {
  const text = outputs.map((r) => `${r.stdout}\n${r.stderr}`).join('\n');
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/**
 * The embedded database always (a data directory holding the migrated template: the first start
 * of an embedded database, seconds of initdb, is not what these tests are about); Postgres (a
 * database of its own, as DATABASE_URL names) when there is one.
 */
const databases: { name: string; spec: () => Promise<string> }[] = [
  {
    name: 'PGlite',
    spec: async () => {
      const dataDir = join(dir, `db-${randomBytes(4).toString('hex')}`);
      await seedPgliteDataDir(dataDir);
      return dataDir;
    },
  },
  ...(TEST_DATABASE_URL
    ? [
        {
          name: 'Postgres',
          spec: async () => {
            pgDatabase = `otactl_cli_${randomBytes(4).toString('hex')}`;
            const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
            await admin.connect();
            await admin.query(`create database ${pgDatabase}`);
            await admin.end();
            const url = new URL(TEST_DATABASE_URL as string);
            url.pathname = `/${pgDatabase}`;
            return url.toString();
          },
        },
      ]
    : []),
];

describe.each(databases)('otactl credentials on $name', ({ spec }) => {
  let db: string;
  beforeAll(async () => {
    db = await spec();
  });

  it('adds from the command line and a key file, lists without keys, removes', async () => {
    const keyFile = await file('key.hex', `${KEY_2}\n`);
    const added = await otactl([
      'credentials',
      'add',
      'dev-1',
      '--psk-identity',
      'id-1',
      '--psk-key',
      KEY_1,
      '--db',
      db,
    ]);
    expect(added.stderr).toBe('');
    expect(added.stdout).toBe('added credentials for dev-1 (identity id-1)\n');
    expect(added.code).toBe(0);
    const fromFile = await otactl([
      'credentials',
      'add',
      'dev-2',
      '--psk-identity',
      'id-2',
      '--psk-key-file',
      keyFile,
      '--db',
      db,
    ]);
    expect(fromFile.stdout).toBe('added credentials for dev-2 (identity id-2)\n');
    const changed = await otactl([
      'credentials',
      'add',
      'dev-1',
      '--psk-identity',
      'id-1b',
      '--psk-key',
      KEY_3,
      '--db',
      db,
    ]);
    expect(changed.stdout).toBe('updated credentials of dev-1: identity id-1 -> id-1b, new key\n');

    const listed = await otactl(['credentials', 'list', '--db', db]);
    expect(listed.stdout).toBe('dev-1\tid-1b\ndev-2\tid-2\n');
    const json = await otactl(['credentials', 'list', '--json', '--db', db]);
    const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(rows.map((r) => [r.endpoint, r.identity])).toEqual([
      ['dev-1', 'id-1b'],
      ['dev-2', 'id-2'],
    ]);
    expect(Object.keys(rows[0]!).sort()).toEqual(['createdAt', 'endpoint', 'identity', 'updatedAt']);

    const removed = await otactl(['credentials', 'remove', 'dev-2', '--db', db]);
    expect(removed.stdout).toBe('removed credentials of dev-2 (identity id-2)\n');
    const again = await otactl(['credentials', 'remove', 'dev-2', '--db', db]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('otactl: credentials remove: no credentials for endpoint "dev-2"\n');
    expectNoKeyPrinted();
  });

  it('imports a file in one transaction: the same file again changes nothing, a changed key updates', async () => {
    const csv = await file(
      'export.csv',
      `serial,endpoint,psk_identity,psk_key\nSN7,dev-7,id-7,${KEY_1}\nSN8,dev-8,id-8,${KEY_2}\n`,
    );
    const first = await otactl(['credentials', 'import', csv, '--db', db]);
    expect(first.stderr).toBe('');
    expect(first.stdout).toBe(`imported ${csv}: 2 added, 0 updated, 0 unchanged\n`);
    const second = await otactl(['credentials', 'import', csv, '--db', db]);
    expect(second.stdout).toBe(`imported ${csv}: 0 added, 0 updated, 2 unchanged\n`);
    const json = await file(
      'changed.json',
      `[\n  {"endpoint": "dev-7", "identity": "id-7", "key": "${KEY_3}"},\n  {"endpoint": "dev-8", "identity": "id-8", "key": "${KEY_2}"}\n]\n`,
    );
    const third = await otactl(['credentials', 'import', json, '--db', db]);
    expect(third.stdout).toBe(`imported ${json}: 0 added, 1 updated, 1 unchanged\n`);
    expectNoKeyPrinted();
  });

  it('writes nothing when any line is bad, and names each bad line and field', async () => {
    const before = (await otactl(['credentials', 'list', '--db', db])).stdout;
    const bad = await file(
      'bad.csv',
      [
        `dev-20,id-20,${KEY_1}`,
        `dev-21,id-21,${KEY_1}ff0`,
        `dev-22,id-7,${KEY_2}`,
        `dev-23,id-23,${KEY_3.slice(0, 30)}`,
      ].join('\n'),
    );
    const result = await otactl(['credentials', 'import', bad, '--db', db]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      [
        `${bad}:2: key has an odd number of hex digits`,
        `${bad}:4: key is 15 bytes long, 16 to 64 allowed`,
        `otactl: credentials import: 2 problems in ${bad}; nothing imported`,
        '',
      ].join('\n'),
    );
    // Well-formed, but an identity belongs to a device the file does not mention.
    const taken = await file('taken.csv', `dev-20,id-20,${KEY_1}\ndev-22,id-7,${KEY_2}\n`);
    const refused = await otactl(['credentials', 'import', taken, '--db', db]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      [
        `${taken}:2: identity is already the identity of endpoint "dev-7"`,
        `otactl: credentials import: 1 problem in ${taken}; nothing imported`,
        '',
      ].join('\n'),
    );
    expect((await otactl(['credentials', 'list', '--db', db])).stdout).toBe(before);
    expectNoKeyPrinted();
  });
});

describe('the otactl executable', () => {
  it('reads a key from standard input, and exits 0 on success and 2 on a bad flag', async () => {
    const db = join(dir, 'executable-db');
    await seedPgliteDataDir(db);
    const added = await executable(
      ['credentials', 'add', 'dev-1', '--psk-identity', 'id-1', '--psk-key-file', '-', '--db', db],
      `${KEY_3}\n`,
    );
    expect(added.stderr).toBe('');
    expect(added.stdout).toBe('added credentials for dev-1 (identity id-1)\n');
    expect(added.code).toBe(0);
    const refused = await executable(['credentials', 'add', 'dev-2', '--psk-identity', 'id-2', '--db', db]);
    expect(refused.stderr).toBe(
      'otactl: credentials add: give the key with exactly one of --psk-key or --psk-key-file\n',
    );
    expect(refused.code).toBe(2);
    expectNoKeyPrinted();
  });
});

describe('otactl credentials flags', () => {
  it('refuses bad flags with exit 2 and one line, without echoing the key', async () => {
    const db = join(dir, 'flags-db');
    const cases: [string[], string][] = [
      [
        ['credentials', 'add', 'dev-1', '--psk-identity', 'id-1', '--db', db],
        'otactl: credentials add: give the key with exactly one of --psk-key or --psk-key-file\n',
      ],
      [
        ['credentials', 'add', 'dev-1', '--psk-identity', 'id-1', '--psk-key', `${KEY_1}zz`, '--db', db],
        'otactl: credentials add: --psk-key: the key is not hexadecimal (0-9, a-f)\n',
      ],
      [
        ['credentials', 'add', 'dev-1', '--psk-identity', 'x'.repeat(257), '--psk-key', KEY_1, '--db', db],
        'otactl: credentials add: --psk-identity is 257 bytes long, at most 256 allowed\n',
      ],
    ];
    for (const [args, stderr] of cases) {
      const result = await otactl(args);
      expect(result.stderr).toBe(stderr);
      expect(result.code).toBe(2);
    }
    expectNoKeyPrinted();
  });

  it('says in --help that a key on the command line shows in ps, and how to avoid it', async () => {
    const help = await otactl(['credentials', 'add', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/`ps`/);
    expect(help.stdout).toMatch(/--psk-key-file -/);
  });
});
