import type { PskCredential } from './credential-directory.js';
import { checkEndpoint, checkPskIdentity, parsePskKeyHex, type RuleCheck } from './credential-rules.js';
import { PskKey } from './psk-key.js';

/**
 * A file of device credentials, as `otactl credentials import` reads it and `otactl sim
 * --write-psk-file` writes it:
 *
 * - CSV: `endpoint,identity,key_hex` per line. An optional header line names the columns; with
 *   one, the columns may come in any order and others (serial number, IMEI, ...) are ignored,
 *   so a manufacturing export can be read as it is. Fields may be quoted ("a,b" and "" inside).
 * - JSON: an array of `{ "endpoint": ..., "identity": ..., "key": "<hex>" }`.
 *
 * Keys are hex. The whole file is checked before anything is used: every problem is reported
 * with its line and field, and a problem never quotes a key.
 */
export const CREDENTIAL_FILE_FORMATS = ['csv', 'json'] as const;
export type CredentialFileFormat = (typeof CREDENTIAL_FILE_FORMATS)[number];

export type CredentialField = 'endpoint' | 'identity' | 'key';

export interface CredentialFileEntry {
  readonly credential: PskCredential;
  /** 1-based line of the entry in the file. */
  readonly line: number;
}

export interface CredentialFileProblem {
  readonly line: number;
  readonly field?: CredentialField;
  readonly reason: string;
}

export type ParsedCredentialFile =
  | {
      readonly ok: true;
      readonly format: CredentialFileFormat;
      readonly entries: readonly CredentialFileEntry[];
    }
  | { readonly ok: false; readonly problems: readonly CredentialFileProblem[] };

/** A value of CSV's or JSON's columns, before it is checked. */
interface RawEntry {
  readonly line: number;
  readonly endpoint: string;
  readonly identity: string;
  readonly key: string;
}

type RawResult =
  | { readonly ok: true; readonly entries: readonly RawEntry[] }
  | { readonly ok: false; readonly problems: readonly CredentialFileProblem[] };

const COLUMN_NAMES: Readonly<Record<string, CredentialField>> = {
  endpoint: 'endpoint',
  identity: 'identity',
  psk_identity: 'identity',
  key_hex: 'key',
  key: 'key',
  psk_key: 'key',
};
const CSV_HEADER = 'endpoint,identity,key_hex';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The file's lines as text; a line that is not UTF-8 is a problem of its own. */
function decodeLines(bytes: Uint8Array): { lines: string[]; problems: CredentialFileProblem[] } {
  const lines: string[] = [];
  const problems: CredentialFileProblem[] = [];
  let start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    try {
      lines.push(strictUtf8.decode(bytes.subarray(start, end)).replace(/\r$/, ''));
    } catch {
      problems.push({ line: lines.length + 1, reason: 'is not valid UTF-8' });
      lines.push('');
    }
    start = end + 1;
  }
  return { lines, problems };
}

/** JSON when the first thing in the file is `[`, else CSV. */
export function detectCredentialFileFormat(bytes: Uint8Array): CredentialFileFormat {
  for (const byte of bytes) {
    if (
      byte === 0x20 ||
      byte === 0x09 ||
      byte === 0x0a ||
      byte === 0x0d ||
      byte === 0xef ||
      byte === 0xbb ||
      byte === 0xbf
    ) {
      continue;
    }
    return byte === 0x5b ? 'json' : 'csv';
  }
  return 'csv';
}

export function parseCredentialFile(
  bytes: Uint8Array,
  options: { readonly format?: CredentialFileFormat } = {},
): ParsedCredentialFile {
  const format = options.format ?? detectCredentialFileFormat(bytes);
  const decoded = decodeLines(bytes);
  if (decoded.problems.length > 0) return { ok: false, problems: decoded.problems };
  const raw = format === 'json' ? readJsonEntries(decoded.lines) : readCsvEntries(decoded.lines);
  if (!raw.ok) return raw;
  return checkEntries(raw.entries, format);
}

/** The rules of credential-rules.ts per entry, and no endpoint or identity twice in the file. */
function checkEntries(raw: readonly RawEntry[], format: CredentialFileFormat): ParsedCredentialFile {
  const problems: CredentialFileProblem[] = [];
  const entries: CredentialFileEntry[] = [];
  const seen = { endpoint: new Map<string, number>(), identity: new Map<string, number>() };
  for (const entry of raw) {
    const report = (field: CredentialField, check: RuleCheck) => {
      if (!check.ok) problems.push({ line: entry.line, field, reason: check.reason });
      return check.ok;
    };
    const names = (['endpoint', 'identity'] as const).map((field) => {
      const value = entry[field];
      const check = field === 'endpoint' ? checkEndpoint(value) : checkPskIdentity(value);
      if (!report(field, check)) return false;
      if (value.trim() !== value)
        return report(field, { ok: false, reason: 'has spaces at its start or end' });
      const earlier = seen[field].get(value);
      if (earlier !== undefined) {
        return report(field, { ok: false, reason: `repeats the ${field} of line ${earlier}` });
      }
      seen[field].set(value, entry.line);
      return true;
    });
    const key = parsePskKeyHex(entry.key);
    report('key', key);
    if (key.ok && names.every(Boolean)) {
      entries.push({
        line: entry.line,
        credential: { endpoint: entry.endpoint, identity: entry.identity, key: new PskKey(key.bytes) },
      });
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, format, entries };
}

/** One CSV line's fields (RFC 4180 quoting within the line), or why it cannot be read. */
function csvFields(line: string): string[] | string {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const quote = line.indexOf('"', i);
        if (quote < 0) return 'has a quoted field without its closing quote';
        value += line.slice(i, quote);
        if (line[quote + 1] === '"') {
          value += '"';
          i = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      fields.push(value);
      if (i < line.length && line[i] !== ',') return 'has text after a closing quote';
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? line.length : comma;
      const value = line.slice(i, end);
      if (value.includes('"')) return 'has a quote inside an unquoted field';
      fields.push(value);
      i = end;
    }
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

function readCsvEntries(lines: readonly string[]): RawResult {
  const problems: CredentialFileProblem[] = [];
  const entries: RawEntry[] = [];
  let columns: Partial<Record<CredentialField, number>> | undefined;
  let width = 3;
  for (const [index, text] of lines.entries()) {
    const line = index + 1;
    if (text.trim() === '') continue;
    const fields = csvFields(text);
    if (typeof fields === 'string') {
      problems.push({ line, reason: fields });
      continue;
    }
    if (columns === undefined) {
      const header = readHeader(fields);
      if (header !== undefined) {
        if (!header.ok) {
          problems.push({ line, reason: header.reason });
          return { ok: false, problems };
        }
        columns = header.columns;
        width = fields.length;
        continue;
      }
      columns = { endpoint: 0, identity: 1, key: 2 };
    }
    if (fields.length !== width) {
      const count = fields.length === 1 ? '1 field' : `${fields.length} fields`;
      problems.push({ line, reason: `has ${count}, ${width} expected (${CSV_HEADER})` });
      continue;
    }
    entries.push({
      line,
      endpoint: fields[columns.endpoint!]!,
      identity: fields[columns.identity!]!,
      key: fields[columns.key!]!,
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, entries };
}

/** A header line (a field is named `endpoint`): where each column is; undefined for a data line. */
function readHeader(
  fields: readonly string[],
):
  | { readonly ok: true; readonly columns: Record<CredentialField, number> }
  | { readonly ok: false; readonly reason: string }
  | undefined {
  if (!fields.some((name) => name.trim().toLowerCase() === 'endpoint')) return undefined;
  const columns: Partial<Record<CredentialField, number>> = {};
  for (const [index, name] of fields.entries()) {
    const field = COLUMN_NAMES[name.trim().toLowerCase()];
    if (field === undefined) continue;
    if (columns[field] !== undefined) return { ok: false, reason: `header names the ${field} column twice` };
    columns[field] = index;
  }
  const missing = (['endpoint', 'identity', 'key'] as const).filter((field) => columns[field] === undefined);
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `header lacks a column for ${missing.join(', ')} (expected ${CSV_HEADER}; identity may be psk_identity, key_hex may be key or psk_key)`,
    };
  }
  return { ok: true, columns: columns as Record<CredentialField, number> };
}

/** The line each element of the top-level array starts on (the text is known to be valid JSON). */
function elementLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectValue = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') continue;
    if (depth === 1 && expectValue && c !== ']') {
      lines.push(line);
      expectValue = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectValue = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectValue = true;
  }
  return lines;
}

/** The 1-based line of a JSON.parse error, when its message gives a position. */
function jsonErrorLine(text: string, error: unknown): number {
  const message = error instanceof Error ? error.message : '';
  const position = /position (\d+)/.exec(message);
  if (position === null) return 1;
  return text.slice(0, Number(position[1])).split('\n').length;
}

function readJsonEntries(lines: readonly string[]): RawResult {
  const text = lines.join('\n');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [{ line: jsonErrorLine(text, error), reason: 'is not valid JSON' }] };
  }
  if (!Array.isArray(value)) {
    return { ok: false, problems: [{ line: 1, reason: 'a JSON credential file is an array of objects' }] };
  }
  const starts = elementLines(text);
  const problems: CredentialFileProblem[] = [];
  const entries: RawEntry[] = [];
  value.forEach((element: unknown, index) => {
    const line = starts[index] ?? 1;
    if (typeof element !== 'object' || element === null || Array.isArray(element)) {
      problems.push({ line, reason: 'is not an object {"endpoint", "identity", "key"}' });
      return;
    }
    const record = element as Record<string, unknown>;
    const unknown = Object.keys(record).filter((name) => !['endpoint', 'identity', 'key'].includes(name));
    if (unknown.length > 0) {
      problems.push({
        line,
        reason: `has unknown fields ${unknown.map((n) => JSON.stringify(n)).join(', ')}`,
      });
    }
    const fields = (['endpoint', 'identity', 'key'] as const).map((field) => {
      const v = record[field];
      if (typeof v === 'string') return v;
      problems.push({ line, field, reason: v === undefined ? 'is missing' : 'is not a string' });
      return undefined;
    });
    const [endpoint, identity, key] = fields;
    if (endpoint !== undefined && identity !== undefined && key !== undefined) {
      entries.push({ line, endpoint, identity, key });
    }
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, entries };
}

function csvField(value: string): string {
  return /[",\s]/.test(value) || value === '' ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * The file `parseCredentialFile` reads back as the same credentials: CSV with a header line, or
 * JSON with one entry per line. It holds the keys in hex: write it with mode 0600.
 * Throws for a CSV value with a line break (JSON holds any value).
 */
export function formatCredentialFile(
  credentials: Iterable<PskCredential>,
  format: CredentialFileFormat = 'csv',
): string {
  const rows = [...credentials].map((c) => ({
    endpoint: c.endpoint,
    identity: c.identity,
    key: c.key.bytes().toString('hex'),
  }));
  if (format === 'json') {
    if (rows.length === 0) return '[]\n';
    return `[\n${rows.map((row) => `  ${JSON.stringify(row)}`).join(',\n')}\n]\n`;
  }
  const lines = rows.map((row) => {
    if (/[\r\n]/.test(row.endpoint + row.identity)) {
      throw new Error(
        `endpoint ${JSON.stringify(row.endpoint)}: a line break cannot be written to CSV; use JSON`,
      );
    }
    return [row.endpoint, row.identity, row.key].map(csvField).join(',');
  });
  return `${[CSV_HEADER, ...lines].join('\n')}\n`;
}
