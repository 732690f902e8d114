import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

import { DURATION_PATTERN } from './duration.js';
import type { ManifestKind } from './kinds.js';
import type { PathSegment } from './load-documents.js';

/** Directory holding the JSON Schemas (shipped with the package, also used by editors). */
export const SCHEMAS_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));

export const SCHEMA_FILES: Readonly<Record<ManifestKind, string>> = {
  Firmware: 'firmware.schema.json',
  DeviceGroup: 'device-group.schema.json',
  Rollout: 'rollout.schema.json',
  Notification: 'notification.schema.json',
};

/** A schema violation, located by its path in the document. */
export interface SchemaIssue {
  readonly path: readonly PathSegment[];
  /** 'key' points at the key of the last segment (an unknown field), 'value' at its value. */
  readonly part: 'key' | 'value';
  readonly message: string;
}

export type SchemaCheck = (kind: ManifestKind, value: unknown) => readonly SchemaIssue[];

const PATTERN_HINTS: ReadonlyMap<string, string> = new Map([
  [DURATION_PATTERN, 'must be a duration like 30s, 5m, 1h or 1h30m'],
  [
    '^(?:manual|(?=\\d)(?:\\d+d)?(?:\\d+h)?(?:\\d+m(?!s))?(?:\\d+s)?(?:\\d+ms)?)$',
    'must be "manual" or a duration like 30s, 5m, 1h or 1h30m',
  ],
  ['^[0-9a-f]{64}$', 'must be 64 lower-case hex digits'],
  ['^https?://[^\\s]+$', 'must be an http:// or https:// URL'],
  [
    '^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$',
    "must be lower case letters, digits, '.', '_' or '-' (at most 253)",
  ],
  [
    '^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$',
    'must be a plain file name (letters, digits, ".", "_", "-"; no directories)',
  ],
]);

let compiled: Readonly<Record<ManifestKind, ValidateFunction>> | undefined;

/**
 * Validates a document against its kind's schema, filling in the schema's defaults (the
 * value is modified in place: call it on a fresh copy).
 */
export const checkSchema: SchemaCheck = (kind, value) => {
  compiled ??= compileSchemas();
  const validate = compiled[kind];
  if (validate(value)) return [];
  return (validate.errors ?? []).map(toIssue);
};

function compileSchemas(): Record<ManifestKind, ValidateFunction> {
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true, verbose: true });
  const load = (kind: ManifestKind) =>
    ajv.compile(JSON.parse(readFileSync(`${SCHEMAS_DIR}${SCHEMA_FILES[kind]}`, 'utf8')) as object);
  return {
    Firmware: load('Firmware'),
    DeviceGroup: load('DeviceGroup'),
    Rollout: load('Rollout'),
    Notification: load('Notification'),
  };
}

function toIssue(error: ErrorObject): SchemaIssue {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const where = formatPath(path);
  const prefix = where === '' ? '' : `${where}: `;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const known = Object.keys(
        (error.parentSchema as { properties?: object } | undefined)?.properties ?? {},
      );
      const hint = known.length > 0 ? ` (known: ${known.join(', ')})` : '';
      return { path: [...path, field], part: 'key', message: `${prefix}unknown field "${field}"${hint}` };
    }
    case 'required':
      return {
        path,
        part: 'key',
        message: `${prefix}missing required field "${String(params.missingProperty)}"`,
      };
    case 'const':
      return { path, part: 'value', message: `${prefix}must be ${JSON.stringify(params.allowedValue)}` };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return { path, part: 'value', message: `${prefix}must be one of ${allowed}` };
    }
    case 'pattern': {
      const hint = PATTERN_HINTS.get(String(params.pattern)) ?? `must match ${String(params.pattern)}`;
      return { path, part: 'value', message: `${prefix}${hint}` };
    }
    case 'minLength':
    case 'maxLength':
    case 'minItems':
    case 'maxItems':
      return { path, part: 'value', message: `${prefix}${sizeMessage(error.keyword, Number(params.limit))}` };
    default:
      return { path, part: 'value', message: `${prefix}${error.message ?? 'is invalid'}` };
  }
}

/** ajv says "must NOT have fewer than 1 characters"; people say "must not be empty". */
function sizeMessage(keyword: 'minLength' | 'maxLength' | 'minItems' | 'maxItems', limit: number): string {
  switch (keyword) {
    case 'minLength':
      return limit === 1 ? 'must not be empty' : `must be at least ${limit} characters long`;
    case 'maxLength':
      return `must be at most ${limit} characters long`;
    case 'minItems':
      return limit === 1 ? 'must list at least one item' : `must list at least ${limit} items`;
    case 'maxItems':
      return `must list at most ${limit} items`;
  }
}

/** `spec.strategy.steps[1].percent` */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    out += typeof segment === 'number' ? `[${segment}]` : out === '' ? segment : `.${segment}`;
  }
  return out;
}
