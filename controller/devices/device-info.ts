import type { ResourceRecord, ResourceValue } from '../lwm2m/codec/index.js';

/** What object 3 tells about a device; undefined where the device did not report a value. */
export interface DeviceInfo {
  readonly manufacturer: string | undefined;
  readonly model: string | undefined;
  readonly serialNumber: string | undefined;
  readonly firmwareVersion: string | undefined;
  readonly hardwareVersion: string | undefined;
  readonly deviceType: string | undefined;
}

/** The object 3 resources interrogation needs, as single-resource fallback paths. */
export const DEVICE_INFO_PATHS = ['/3/0/0', '/3/0/1', '/3/0/2', '/3/0/3', '/3/0/17', '/3/0/18'] as const;

export function textOf(value: ResourceValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return `${value.objectId}:${value.instanceId}`;
  return String(value);
}

export function numberOf(value: ResourceValue | undefined): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) return Number(value);
  if (Buffer.isBuffer(value)) return numberOf(value.toString('utf8'));
  return undefined;
}

export function valueAt(records: readonly ResourceRecord[], path: string): ResourceValue | undefined {
  return records.find((r) => r.path === path)?.value;
}

export function deviceInfoOf(records: readonly ResourceRecord[]): DeviceInfo {
  const text = (path: string) => textOf(valueAt(records, path));
  return {
    manufacturer: text('/3/0/0'),
    model: text('/3/0/1'),
    serialNumber: text('/3/0/2'),
    firmwareVersion: text('/3/0/3'),
    deviceType: text('/3/0/17'),
    hardwareVersion: text('/3/0/18'),
  };
}

/** The instances of a multiple resource such as 5/0/8, in instance order. */
export function multipleNumbers(records: readonly ResourceRecord[], resourcePath: string): number[] {
  const prefix = `${resourcePath}/`;
  return records
    .filter((r) => r.path.startsWith(prefix))
    .map((r) => ({ i: Number(r.path.slice(prefix.length)), v: numberOf(r.value) }))
    .filter((x): x is { i: number; v: number } => x.v !== undefined && Number.isInteger(x.i))
    .sort((a, b) => a.i - b.i)
    .map((x) => x.v);
}
