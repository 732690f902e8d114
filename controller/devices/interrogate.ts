import type { ResourceRecord } from '../lwm2m/codec/index.js';
import type { DeviceClient, Failure, ReadResult } from '../lwm2m/index.js';
import {
  codeAt,
  DEVICE_INFO_PATHS,
  type DeviceInfo,
  deviceInfoOf,
  errorCodeOf,
  multipleCodes,
} from './device-info.js';
import { CODE_RANGES, type ReportedCode } from './reported-code.js';

/** The device did not answer at all (as opposed to answering an error code). */
export function isSilence(f: Failure): boolean {
  return f.kind === 'timeout' || f.kind === 'unreachable';
}

export type Object3Read =
  | { readonly kind: 'ok'; readonly info: DeviceInfo; readonly readAt: number }
  | Failure;

/** The answer to a read of /3/0 already made (by the probe that found the device answers), and when it came. */
export interface Object3Answer {
  readonly answer: ReadResult;
  readonly at: number;
}

/**
 * Reads /3/0 whole; a device that refuses that gets single-resource reads of what matters.
 * `probed`: the answer to reading /3/0 when it was read already; a success counts as read when
 * it came, not now (the device may have installed other firmware since).
 */
export async function readObject3(
  client: DeviceClient,
  clock: () => number,
  probed: Object3Answer | undefined = undefined,
): Promise<Object3Read> {
  const whole = probed?.answer ?? (await client.read('/3/0'));
  if (whole.kind === 'ok')
    return { kind: 'ok', info: deviceInfoOf(whole.records), readAt: probed?.at ?? clock() };
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
      /** 5/0/9; null when the device does not have it (or reported a value outside 0..2). */
      readonly deliveryMethod: number | null;
      /** Values outside the spec's ranges, left out above (the spec says a server ignores them). */
      readonly ignored: readonly string[];
    }
  | Failure;

/** Reads 5/0/8 (multiple) and 5/0/9; an error answer means "not there", silence is a failure. */
export async function readFirmwareInfo(client: DeviceClient): Promise<FirmwareInfoRead> {
  const protocols = await client.read('/5/0/8');
  if (protocols.kind !== 'ok' && isSilence(protocols)) return protocols;
  const delivery = await client.read('/5/0/9');
  if (delivery.kind !== 'ok' && isSilence(delivery)) return delivery;
  return firmwareInfo(
    protocols.kind === 'ok' ? protocols.records : undefined,
    delivery.kind === 'ok' ? delivery.records : undefined,
  );
}

/**
 * 5/0/8 and 5/0/9 from the answer to a Read or Observe of the whole instance /5/0:
 * a resource the answer does not carry is one the device does not have, as an error answer to its
 * single-resource read would say.
 */
export function firmwareInfoOfInstance(records: readonly ResourceRecord[]): FirmwareInfoRead {
  const has = (path: string) => records.some((r) => r.path === path || r.path.startsWith(`${path}/`));
  return firmwareInfo(has('/5/0/8') ? records : undefined, has('/5/0/9') ? records : undefined);
}

/** `protocols`, `delivery`: the records that answered for 5/0/8 and 5/0/9, undefined when not there. */
function firmwareInfo(
  protocols: readonly ResourceRecord[] | undefined,
  delivery: readonly ResourceRecord[] | undefined,
): FirmwareInfoRead {
  const ignored: string[] = [];
  let protocolCodes: number[] | null = null;
  if (protocols !== undefined) {
    const split = multipleCodes(protocols, '/5/0/8', CODE_RANGES.protocol);
    protocolCodes = split.codes;
    for (const raw of split.ignored) ignored.push(`/5/0/8 ${raw}`);
  }
  const method = delivery === undefined ? undefined : codeAt(delivery, '/5/0/9', CODE_RANGES.deliveryMethod);
  if (method?.kind === 'unknown') ignored.push(`/5/0/9 ${method.raw}`);
  return {
    kind: 'ok',
    protocols: protocolCodes,
    deliveryMethod: method?.kind === 'known' ? method.code : null,
    ignored,
  };
}

export type FirmwareStateRead =
  | {
      readonly kind: 'ok';
      /** 5/0/3; undefined when the device answered without it or with a code outside 0..3. */
      readonly state: number | undefined;
      /** 5/0/5; undefined when the device answered without it or with a code outside 0..11. */
      readonly result: number | undefined;
      /** Codes outside the spec's range, as the device sent them (absent when there are none). */
      readonly unknown?: { readonly state?: string; readonly result?: string };
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
  const s = codeAt(state.records, '/5/0/3', CODE_RANGES.state);
  const r = codeAt(result.records, '/5/0/5', CODE_RANGES.result);
  const unknown = {
    ...(s?.kind === 'unknown' ? { state: s.raw } : {}),
    ...(r?.kind === 'unknown' ? { result: r.raw } : {}),
  };
  return {
    kind: 'ok',
    state: knownCode(s),
    result: knownCode(r),
    ...(Object.keys(unknown).length > 0 ? { unknown } : {}),
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
  const info = deviceInfoOf(r.records);
  const version = info.firmwareVersion;
  if (version === undefined) {
    const refused = info.refused.find((v) => v.path === '/3/0/3');
    const reason = refused === undefined ? 'the answer has no /3/0/3' : `/3/0/3 ${refused.reason}`;
    return { kind: 'invalid', reason };
  }
  return { kind: 'ok', firmwareVersion: version, readAt: clock() };
}

function knownCode(code: ReportedCode | undefined): number | undefined {
  return code?.kind === 'known' ? code.code : undefined;
}

export type ErrorCodeRead =
  | { readonly kind: 'ok'; readonly errorCode: number; readonly readAt: number }
  | Failure;

/** Reads 3/0/11 now (every instance): the first non-zero, else 0. */
export async function readErrorCode(client: DeviceClient, clock: () => number): Promise<ErrorCodeRead> {
  const r = await client.read('/3/0/11');
  if (r.kind !== 'ok') return r;
  const errorCode = errorCodeOf(r.records);
  if (errorCode === undefined) return { kind: 'invalid', reason: 'the answer has no /3/0/11 within 0..32' };
  return { kind: 'ok', errorCode, readAt: clock() };
}
