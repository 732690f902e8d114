import type { DeviceClient, Failure, ReadResult } from '../lwm2m/index.js';
import {
  DEVICE_INFO_PATHS,
  type DeviceInfo,
  deviceInfoOf,
  multipleNumbers,
  numberOf,
  valueAt,
} from './device-info.js';

/** The device did not answer at all (as opposed to answering an error code). */
export function isSilence(f: Failure): boolean {
  return f.kind === 'timeout' || f.kind === 'unreachable';
}

export type Object3Read =
  | { readonly kind: 'ok'; readonly info: DeviceInfo; readonly readAt: number }
  | Failure;

/**
 * Reads /3/0 whole; a device that refuses that gets single-resource reads of what matters.
 * `whole`: the answer to reading /3/0 when it was read already (by the probe that found the
 * device answers).
 */
export async function readObject3(
  client: DeviceClient,
  clock: () => number,
  whole: ReadResult | undefined = undefined,
): Promise<Object3Read> {
  whole ??= await client.read('/3/0');
  if (whole.kind === 'ok') return { kind: 'ok', info: deviceInfoOf(whole.records), readAt: clock() };
  if (isSilence(whole)) return whole;
  const records = [];
  let last: Failure = whole;
  for (const path of DEVICE_INFO_PATHS) {
    const one: ReadResult = await client.read(path);
    if (one.kind === 'ok') records.push(...one.records);
    else if (isSilence(one)) return one;
    else last = one;
  }
  if (records.length === 0) return last;
  return { kind: 'ok', info: deviceInfoOf(records), readAt: clock() };
}

export type FirmwareInfoRead =
  | {
      readonly kind: 'ok';
      /** 5/0/8; null when the device does not have it. */
      readonly protocols: number[] | null;
      /** 5/0/9; null when the device does not have it. */
      readonly deliveryMethod: number | null;
    }
  | Failure;

/** Reads 5/0/8 (multiple) and 5/0/9; an error answer means "not there", silence is a failure. */
export async function readFirmwareInfo(client: DeviceClient): Promise<FirmwareInfoRead> {
  const protocols = await client.read('/5/0/8');
  if (protocols.kind !== 'ok' && isSilence(protocols)) return protocols;
  const delivery = await client.read('/5/0/9');
  if (delivery.kind !== 'ok' && isSilence(delivery)) return delivery;
  return {
    kind: 'ok',
    protocols: protocols.kind === 'ok' ? multipleNumbers(protocols.records, '/5/0/8') : null,
    deliveryMethod: delivery.kind === 'ok' ? (numberOf(valueAt(delivery.records, '/5/0/9')) ?? null) : null,
  };
}

export type FirmwareStateRead =
  | {
      readonly kind: 'ok';
      /** 5/0/3; undefined when the device answered without it. */
      readonly state: number | undefined;
      /** 5/0/5; undefined when the device answered without it. */
      readonly result: number | undefined;
      /** Epoch ms when the answers arrived. */
      readonly reportedAt: number;
    }
  | Failure;

/** Reads 5/0/3 and 5/0/5 now. */
export async function readFirmwareState(
  client: DeviceClient,
  clock: () => number,
): Promise<FirmwareStateRead> {
  const state = await client.read('/5/0/3');
  if (state.kind !== 'ok') return state;
  const result = await client.read('/5/0/5');
  if (result.kind !== 'ok') return result;
  return {
    kind: 'ok',
    state: numberOf(valueAt(state.records, '/5/0/3')),
    result: numberOf(valueAt(result.records, '/5/0/5')),
    reportedAt: clock(),
  };
}

export type FirmwareVersionRead =
  | { readonly kind: 'ok'; readonly firmwareVersion: string; readonly readAt: number }
  | Failure;

export async function readFirmwareVersion(
  client: DeviceClient,
  clock: () => number,
): Promise<FirmwareVersionRead> {
  const r = await client.read('/3/0/3');
  if (r.kind !== 'ok') return r;
  const version = deviceInfoOf(r.records).firmwareVersion;
  if (version === undefined) return { kind: 'invalid', reason: 'the answer has no /3/0/3' };
  return { kind: 'ok', firmwareVersion: version, readAt: clock() };
}
