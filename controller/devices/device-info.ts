import type { ResourceRecord, ResourceValue } from '../lwm2m/codec/index.js';
import {
  CODE_RANGES,
  type CodeRange,
  type ReportedCode,
  reportedCode,
  reportedText,
} from './reported-code.js';

/** What object 3 tells about a device; undefined where the device did not report a (storable) value. */
export interface DeviceInfo {
  /** 3/0/11: the first non-zero instance, else 0 (see `errorCodeOf`). */
  readonly errorCode: number | undefined;
  readonly manufacturer: string | undefined;
  readonly model: string | undefined;
  readonly serialNumber: string | undefined;
  readonly firmwareVersion: string | undefined;
  readonly hardwareVersion: string | undefined;
  readonly deviceType: string | undefined;
  /** Values the device reported that cannot be stored (kept as undefined above), and why. */
  readonly refused: readonly RefusedValue[];
}

export interface RefusedValue {
  readonly path: string;
  readonly reason: string;
}

/** The object 3 resources interrogation needs, as single-resource fallback paths. */
export const DEVICE_INFO_PATHS = ['/3/0/0', '/3/0/1', '/3/0/2', '/3/0/3', '/3/0/17', '/3/0/18'] as const;

export function valueAt(records: readonly ResourceRecord[], path: string): ResourceValue | undefined {
  return records.find((r) => r.path === path)?.value;
}

export function deviceInfoOf(records: readonly ResourceRecord[]): DeviceInfo {
  const refused: RefusedValue[] = [];
  const text = (path: string) => {
    const checked = reportedText(valueAt(records, path));
    if (checked === undefined) return undefined;
    if (checked.ok) return checked.text;
    refused.push({ path, reason: checked.reason });
    return undefined;
  };
  return {
    manufacturer: text('/3/0/0'),
    model: text('/3/0/1'),
    serialNumber: text('/3/0/2'),
    firmwareVersion: text('/3/0/3'),
    deviceType: text('/3/0/17'),
    hardwareVersion: text('/3/0/18'),
    errorCode: errorCodeOf(records),
    refused,
  };
}

/**
 * 3/0/11 Error Code (a multiple resource) as one number: the first non-zero instance, else 0 when
 * the device reports only 0; undefined when it reports no instance within the spec's range.
 */
export function errorCodeOf(records: readonly ResourceRecord[]): number | undefined {
  const single = codeAt(records, '/3/0/11', CODE_RANGES.errorCode);
  const codes = [
    ...(single?.kind === 'known' ? [single.code] : []),
    ...multipleCodes(records, '/3/0/11', CODE_RANGES.errorCode).codes,
  ];
  if (codes.length === 0) return undefined;
  return codes.find((c) => c !== 0) ?? 0;
}

/** The code at `path` checked against its range; undefined when the records do not have it. */
export function codeAt(
  records: readonly ResourceRecord[],
  path: string,
  range: CodeRange,
): ReportedCode | undefined {
  return reportedCode(valueAt(records, path), range);
}

/**
 * The instances of a multiple resource such as 5/0/8 in instance order, split into the codes within
 * `range` and the raw text of the others (which the spec says a server ignores).
 */
export function multipleCodes(
  records: readonly ResourceRecord[],
  resourcePath: string,
  range: CodeRange,
): { readonly codes: number[]; readonly ignored: string[] } {
  const prefix = `${resourcePath}/`;
  const codes: number[] = [];
  const ignored: string[] = [];
  const instances = records
    .filter((r) => r.path.startsWith(prefix))
    .map((r) => ({ i: Number(r.path.slice(prefix.length)), code: reportedCode(r.value, range) }))
    .filter((x) => Number.isInteger(x.i))
    .sort((a, b) => a.i - b.i);
  for (const { code } of instances) {
    if (code?.kind === 'known') codes.push(code.code);
    else if (code !== undefined) ignored.push(code.raw);
  }
  return { codes, ignored };
}
