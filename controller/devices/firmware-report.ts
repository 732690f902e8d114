import { type Registration, registeredObjects } from '../lwm2m/registration/registration.js';
import type { DeviceChange } from './device-change.js';
import type { DevicePatch } from './device-patch.js';
import { CODE_RANGES, type ReportedCode } from './reported-code.js';

/** What device sync observes of object 5: State and Update Result. */
export const FIRMWARE_PATHS = ['/5/0/3', '/5/0/5'] as const;
export type FirmwarePath = (typeof FIRMWARE_PATHS)[number];
export const FIRMWARE_RANGES = { '/5/0/3': CODE_RANGES.state, '/5/0/5': CODE_RANGES.result } as const;

export function isFirmwarePath(path: string): path is FirmwarePath {
  return (FIRMWARE_PATHS as readonly string[]).includes(path);
}

/**
 * The firmware object's instance: observed (or read) whole, one exchange answers State, Update
 * Result, Protocol Support and Delivery Method, and each notification carries State and Result
 * together. Devices that refuse that have State and Result observed one by one.
 */
export const FIRMWARE_INSTANCE = '/5/0';

/** Whether an observation is one device sync makes of object 5 (the instance or State or Result). */
export function isFirmwareObservation(path: string): boolean {
  return path === FIRMWARE_INSTANCE || isFirmwarePath(path);
}

/** By link body: a fleet sends few distinct bodies, and every Register and Update asks. */
const firmwareByLinks = new Map<string, boolean>();

export function hasFirmwareObject(reg: Registration): boolean {
  let has = firmwareByLinks.get(reg.links);
  if (has === undefined) {
    has = registeredObjects(reg).objects.some((o) => o.objectId === 5);
    if (firmwareByLinks.size >= 256) firmwareByLinks.clear();
    firmwareByLinks.set(reg.links, has);
  }
  return has;
}

/** A code from `readFirmwareState`: the known one, or the raw text of an unknown one. */
export function readCode(known: number | undefined, raw: string | undefined): ReportedCode | undefined {
  if (known !== undefined) return { kind: 'known', code: known };
  return raw === undefined ? undefined : { kind: 'unknown', raw };
}

/** A known code fills the column and clears its raw text; an unknown one is null with the raw text kept. */
export function firmwarePatch(
  endpoint: string,
  state: ReportedCode | undefined,
  result: ReportedCode | undefined,
  at: number,
): DevicePatch {
  return {
    endpoint,
    ...(state === undefined ? {} : { fw_state: codeColumn(state), fw_state_raw: rawColumn(state) }),
    ...(result === undefined ? {} : { fw_result: codeColumn(result), fw_result_raw: rawColumn(result) }),
    fw_reported_at: new Date(at),
    updated_at: new Date(at),
  };
}

function codeColumn(code: ReportedCode): number | null {
  return code.kind === 'known' ? code.code : null;
}

function rawColumn(code: ReportedCode): string | null {
  return code.kind === 'unknown' ? code.raw : null;
}

export function firmwareChange(
  state: ReportedCode | undefined,
  result: ReportedCode | undefined,
): DeviceChange {
  return {
    kind: 'firmware-state',
    ...(state?.kind === 'known' ? { state: state.code } : {}),
    ...(result?.kind === 'known' ? { result: result.code } : {}),
  };
}
