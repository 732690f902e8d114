import type { ResourceRecord, ResourceValue } from '../lwm2m/codec/index.js';
import { defaultModel } from '../lwm2m/model/index.js';
import type { Lwm2mPath } from '../lwm2m/path.js';

/** Firmware Update State (5/0/3). */
export const FirmwareState = { IDLE: 0, DOWNLOADING: 1, DOWNLOADED: 2, UPDATING: 3 } as const;
export type FirmwareStateId = (typeof FirmwareState)[keyof typeof FirmwareState];

/** Firmware Update Result (5/0/5). */
export const UpdateResult = {
  INITIAL: 0,
  SUCCESS: 1,
  NOT_ENOUGH_FLASH: 2,
  OUT_OF_RAM: 3,
  CONNECTION_LOST: 4,
  INTEGRITY_FAILURE: 5,
  UNSUPPORTED_PACKAGE: 6,
  INVALID_URI: 7,
  UPDATE_FAILED: 8,
  UNSUPPORTED_PROTOCOL: 9,
  CANCELLED: 10,
} as const;
export type UpdateResultId = (typeof UpdateResult)[keyof typeof UpdateResult];

/** Firmware Update Protocol Support (5/0/8) values the simulator can actually download with. */
export const DownloadProtocol = { COAP: 0, COAPS: 1, HTTP: 2, HTTPS: 3 } as const;
export type DownloadProtocolId = (typeof DownloadProtocol)[keyof typeof DownloadProtocol];

/** Everything a Read can return; executables (3/0/4, 5/0/2, 5/0/10, 1/0/8) and 5/0/0 are not values. */
export interface DeviceObjectValues {
  readonly shortServerId: number;
  readonly lifetime: number;
  readonly binding: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serial: string;
  readonly firmwareVersion: string;
  /** 3/0/11 (one instance): 0 no error. */
  readonly errorCode: number;
  readonly supportedBinding: string;
  readonly deviceType: string;
  readonly hardwareVersion: string;
  readonly softwareVersion: string;
  readonly packageUri: string;
  readonly state: FirmwareStateId;
  readonly result: UpdateResultId;
  readonly pkgName: string;
  readonly pkgVersion: string;
  readonly protocols: readonly number[];
  readonly deliveryMethod: number;
}

export function deviceRecords(v: DeviceObjectValues): ResourceRecord[] {
  const r = (path: string, value: ResourceValue): ResourceRecord => ({ path, value });
  return [
    r('/1/0/0', v.shortServerId),
    r('/1/0/1', v.lifetime),
    r('/1/0/6', false),
    r('/1/0/7', v.binding),
    r('/3/0/0', v.manufacturer),
    r('/3/0/1', v.model),
    r('/3/0/2', v.serial),
    r('/3/0/3', v.firmwareVersion),
    r('/3/0/11/0', v.errorCode),
    r('/3/0/16', v.supportedBinding),
    r('/3/0/17', v.deviceType),
    r('/3/0/18', v.hardwareVersion),
    r('/3/0/19', v.softwareVersion),
    r('/5/0/1', v.packageUri),
    r('/5/0/3', v.state),
    r('/5/0/5', v.result),
    r('/5/0/6', v.pkgName),
    r('/5/0/7', v.pkgVersion),
    ...v.protocols.map((p, i) => r(`/5/0/8/${i}`, p)),
    r('/5/0/9', v.deliveryMethod),
  ];
}

/** Executable resources the simulator implements. */
export const EXECUTABLES = ['/1/0/8', '/3/0/4', '/5/0/2', '/5/0/10'] as const;
export type ExecutablePath = (typeof EXECUTABLES)[number];

/** Writable resources the simulator implements. */
export const WRITABLES = ['/1/0/1', '/1/0/7', '/5/0/1'] as const;

export const OBJECT_IDS = [1, 3, 5] as const;

/** The instances the device has: one of each object. */
export function pathExists(p: Lwm2mPath, records: readonly ResourceRecord[], path: string): boolean {
  if (!(OBJECT_IDS as readonly number[]).includes(p.objectId)) return false;
  if (p.instanceId === undefined) return true;
  if (p.instanceId !== 0) return false;
  if (p.resourceId === undefined) return true;
  return (
    records.some((r) => r.path === path || r.path.startsWith(`${path}/`)) ||
    (EXECUTABLES as readonly string[]).includes(path) ||
    path === '/5/0/0'
  );
}

export function resourceOperations(objectId: number, resourceId: number): string {
  return defaultModel.resource(objectId, resourceId)?.operations ?? '';
}

/** Links for a Discover answer at `path` (an object or its instance). */
export function discoverPaths(p: Lwm2mPath, records: readonly ResourceRecord[]): string[] {
  const objects = p.objectId < 0 ? [...OBJECT_IDS] : [p.objectId];
  const out: string[] = [];
  for (const objectId of objects) {
    if (p.instanceId === undefined) out.push(`/${objectId}`);
    out.push(`/${objectId}/0`);
    const resources = new Set<string>();
    for (const rec of records) {
      const parts = rec.path.split('/');
      if (parts[1] === String(objectId)) resources.add(parts.slice(0, 4).join('/'));
    }
    for (const e of EXECUTABLES) if (e.startsWith(`/${objectId}/`)) resources.add(e);
    if (objectId === 5) resources.add('/5/0/0');
    const sorted = [...resources].sort((a, b) => Number(a.split('/')[3]) - Number(b.split('/')[3]));
    out.push(...sorted);
  }
  return out;
}
