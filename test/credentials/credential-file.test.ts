import { describe, expect, it } from 'vitest';
import {
  type CredentialFileFormat,
  formatCredentialFile,
  type PskCredential,
  PskKey,
  parseCredentialFile,
} from '../../controller/credentials/index.js';

const KEY_A = '000102030405060708090a0b0c0d0e0f';
const KEY_B = 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100';
const bytes = (text: string) => Buffer.from(text, 'utf8');

function entriesOf(text: string, format?: CredentialFileFormat) {
  const parsed = parseCredentialFile(bytes(text), format ? { format } : {});
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.entries.map((e) => [
    e.line,
    e.credential.endpoint,
    e.credential.identity,
    e.credential.key.bytes().toString('hex'),
  ]);
}

function problemsOf(text: string | Buffer) {
  const parsed = parseCredentialFile(typeof text === 'string' ? bytes(text) : text);
  if (parsed.ok) throw new Error('expected problems');
  return parsed.problems;
}

describe('credential file, CSV', () => {
  it('reads endpoint,identity,key_hex lines with or without a header, CRLF and blank lines', () => {
    expect(entriesOf(`dev-1,id-1,${KEY_A}\n\ndev-2,id-2,${KEY_B.toUpperCase()}\n`)).toEqual([
      [1, 'dev-1', 'id-1', KEY_A],
      [3, 'dev-2', 'id-2', KEY_B],
    ]);
    expect(entriesOf(`\ufeffendpoint,identity,key_hex\r\ndev-1,id-1,${KEY_A}\r\n`)).toEqual([
      [2, 'dev-1', 'id-1', KEY_A],
    ]);
  });

  it('reads a manufacturing export by its header: columns in any order, others ignored, quoted fields', () => {
    const text = [
      'serial,IMEI,psk_key,Endpoint,psk_identity',
      `SN1,3567,${KEY_A},"urn:imei:3567","id,with""quote"`,
    ].join('\n');
    expect(entriesOf(text)).toEqual([[2, 'urn:imei:3567', 'id,with"quote', KEY_A]]);
  });

  it('names the line and the field of every problem, and never quotes a key', () => {
    const secretish = `${KEY_A}zz`;
    const problems = problemsOf(
      [
        `dev-1,id-1,${KEY_A}`,
        `dev-2,id-2,${secretish}`,
        `dev-1,id-3,${KEY_A}`,
        `dev-4,id-1,${KEY_A.slice(2)}`,
        `dev-5,id-5`,
        `,id-6,${KEY_A}`,
        ` dev-7,id-7,${KEY_A}`,
        `"dev-8,id-8,${KEY_A}`,
      ].join('\n'),
    );
    expect(problems).toEqual([
      { line: 5, reason: 'has 2 fields, 3 expected (endpoint,identity,key_hex)' },
      { line: 8, reason: 'has a quoted field without its closing quote' },
    ]);
    const later = problemsOf(
      [
        `dev-1,id-1,${KEY_A}`,
        `dev-2,id-2,${secretish}`,
        `dev-1,id-3,${KEY_A}`,
        `dev-4,id-1,${KEY_A.slice(2)}`,
        `,id-6,${KEY_A}`,
        ` dev-7,id-7,${KEY_A}`,
      ].join('\n'),
    );
    expect(later).toEqual([
      { line: 2, field: 'key', reason: 'is not hexadecimal (0-9, a-f)' },
      { line: 3, field: 'endpoint', reason: 'repeats the endpoint of line 1' },
      { line: 4, field: 'identity', reason: 'repeats the identity of line 1' },
      { line: 4, field: 'key', reason: 'is 15 bytes long, 16 to 64 allowed' },
      { line: 5, field: 'endpoint', reason: 'is empty' },
      { line: 6, field: 'endpoint', reason: 'has spaces at its start or end' },
    ]);
    expect(JSON.stringify(later)).not.toContain(KEY_A.slice(4));
  });

  it('refuses a header without a key column and a line that is not UTF-8', () => {
    expect(problemsOf('endpoint,identity\ndev-1,id-1\n')).toEqual([
      {
        line: 1,
        reason:
          'header lacks a column for key (expected endpoint,identity,key_hex; identity may be psk_identity, key_hex may be key or psk_key)',
      },
    ]);
    expect(
      problemsOf(Buffer.concat([bytes(`dev-1,id-1,${KEY_A}\ndev-`), Buffer.from([0xff]), bytes(',x,y\n')])),
    ).toEqual([{ line: 2, reason: 'is not valid UTF-8' }]);
  });
});

describe('credential file, JSON', () => {
  it('reads an array of {endpoint, identity, key} and knows the line of each', () => {
    const text = `[\n  {"endpoint": "dev-1", "identity": "id-1", "key": "${KEY_A}"},\n  {\n    "endpoint": "dev-2",\n    "identity": "id-2",\n    "key": "${KEY_B}"\n  }\n]\n`;
    expect(entriesOf(text)).toEqual([
      [2, 'dev-1', 'id-1', KEY_A],
      [3, 'dev-2', 'id-2', KEY_B],
    ]);
  });

  it('names the line and the field of every problem', () => {
    const text = [
      '[',
      `  {"endpoint": "dev-1", "identity": "id-1", "key": "${KEY_A}"},`,
      `  {"endpoint": "dev-2", "identity": 7, "key": "${KEY_A}"},`,
      `  {"endpoint": "dev-3", "psk_identity": "x", "key": "${KEY_A}"},`,
      `  "dev-4",`,
      `  {"endpoint": "dev-5", "identity": "id-1", "key": "${KEY_A}"}`,
      ']',
    ].join('\n');
    expect(problemsOf(text)).toEqual([
      { line: 3, field: 'identity', reason: 'is not a string' },
      { line: 4, reason: 'has unknown fields "psk_identity"' },
      { line: 4, field: 'identity', reason: 'is missing' },
      { line: 5, reason: 'is not an object {"endpoint", "identity", "key"}' },
    ]);
    expect(problemsOf(`[\n  {"endpoint": "dev-1",\n  }\n]`)).toEqual([
      { line: 3, reason: 'is not valid JSON' },
    ]);
    expect(problemsOf('[1, 2')).toEqual([{ line: 1, reason: 'is not valid JSON' }]);
  });
});

describe('formatCredentialFile', () => {
  const credentials: PskCredential[] = [
    { endpoint: 'dev-1', identity: 'id-1', key: new PskKey(Buffer.from(KEY_A, 'hex')) },
    { endpoint: 'urn:imei:1,2', identity: 'id "two"', key: new PskKey(Buffer.from(KEY_B, 'hex')) },
    { endpoint: 'dév-3', identity: '😀', key: new PskKey(Buffer.alloc(16, 3)) },
  ];

  it.each(['csv', 'json'] as const)('writes %s that reads back as the same credentials', (format) => {
    const text = formatCredentialFile(credentials, format);
    const back = parseCredentialFile(bytes(text));
    expect(back.ok && back.format).toBe(format);
    if (!back.ok) return;
    expect(
      back.entries.map((e) => [e.credential.endpoint, e.credential.identity, e.credential.key.bytes()]),
    ).toEqual(credentials.map((c) => [c.endpoint, c.identity, c.key.bytes()]));
  });

  it('writes a header line and one line per credential in CSV', () => {
    expect(formatCredentialFile(credentials.slice(0, 1))).toBe(
      `endpoint,identity,key_hex\ndev-1,id-1,${KEY_A}\n`,
    );
  });
});
