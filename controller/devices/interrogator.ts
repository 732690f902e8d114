import type { Failure, NotificationResult, Observation } from '../lwm2m/index.js';
import { codeAt } from './device-info.js';
import type { DevicePatch } from './device-patch.js';
import {
  FIRMWARE_PATHS,
  FIRMWARE_RANGES,
  type FirmwarePath,
  firmwareChange,
  firmwarePatch,
  hasFirmwareObject,
} from './firmware-report.js';
import { isSilence, type Object3Answer, readFirmwareInfo, readObject3 } from './interrogate.js';
import type { ReportedCode } from './reported-code.js';
import type { SyncContext } from './sync-context.js';

/** A probe's answer to reading /3/0, with the registration it was asked under. */
export interface ProbeAnswer extends Object3Answer {
  readonly registrationId: string;
}

/** How an interrogation ended: the device answered, was silent, or its registration moved on. */
export type InterrogationOutcome =
  | { readonly kind: 'answered' }
  | { readonly kind: 'silent'; readonly failure: Failure }
  | { readonly kind: 'gone' };

/** State and Result received while the observations are set up, not yet stored. */
type PendingFirmwareValues = Map<FirmwarePath, ReportedCode>;

const ANSWERED: InterrogationOutcome = { kind: 'answered' };
const GONE: InterrogationOutcome = { kind: 'gone' };

/** Reads a device (object 3, 5/0/8, 5/0/9), observes its firmware state and stores what it reports. */
export class Interrogator {
  readonly #ctx: SyncContext;
  /** Firmware values of devices whose observations are being set up, stored once all answered. */
  readonly #establishing = new Map<string, PendingFirmwareValues>();

  constructor(ctx: SyncContext) {
    this.#ctx = ctx;
  }

  /**
   * Interrogates `endpoint`'s current registration: with `full`, reads object 3 (or takes the
   * probe's answer, `probed`, if it came under this registration) and the firmware object's
   * protocols; then observes 5/0/3 and 5/0/5.
   */
  async interrogate(
    endpoint: string,
    full: boolean,
    probed: ProbeAnswer | undefined,
  ): Promise<InterrogationOutcome> {
    const ctx = this.#ctx;
    const reg = ctx.server.registration(endpoint);
    if (reg === undefined || ctx.stopped) return GONE;
    // A probe of an earlier registration describes the device before it registered again: after a
    // reboot into new firmware, the old version. Read it again.
    if (probed !== undefined && probed.registrationId !== reg.id) probed = undefined;
    const current = () => !ctx.stopped && ctx.server.registration(endpoint)?.id === reg.id;
    const client = ctx.server.device(endpoint);
    const firmware = hasFirmwareObject(reg);
    if (full) {
      const info = await readObject3(client, ctx.clock, probed);
      if (!current()) return GONE;
      if (info.kind !== 'ok' && isSilence(info)) return { kind: 'silent', failure: info };
      const fw = firmware ? await readFirmwareInfo(client) : undefined;
      if (!current()) return GONE;
      const now = ctx.clock();
      const patch: Record<string, unknown> = { endpoint, updated_at: new Date(now) };
      if (info.kind === 'ok') {
        Object.assign(patch, {
          manufacturer: info.info.manufacturer ?? null,
          model: info.info.model ?? null,
          serial_number: info.info.serialNumber ?? null,
          firmware_version: info.info.firmwareVersion ?? null,
          hardware_version: info.info.hardwareVersion ?? null,
          device_type: info.info.deviceType ?? null,
          info_read_at: new Date(info.readAt),
          // A device without 3/0/11 keeps null: its bake does not read it.
          ...(info.info.errorCode === undefined
            ? {}
            : { error_code: info.info.errorCode, error_code_read_at: new Date(info.readAt) }),
        });
        if (info.info.refused.length > 0) {
          ctx.warnings.once(
            endpoint,
            'info',
            { refused: info.info.refused },
            'device reports text that is not stored',
          );
        }
      } else ctx.log.warn({ endpoint, failure: info }, 'device refused to be read: object 3 unknown');
      if (fw?.kind === 'ok') {
        patch.fw_protocol_support = fw.protocols;
        patch.fw_delivery_method = fw.deliveryMethod;
        if (fw.ignored.length > 0) {
          ctx.warnings.once(
            endpoint,
            'fw-info',
            { ignored: fw.ignored },
            'device reports codes outside the spec, ignored',
          );
        }
      }
      ctx.writes.enqueue({
        endpoint,
        patch: patch as DevicePatch,
        checkVersion: true,
        change: { kind: 'info', firmwareVersion: info.kind === 'ok' ? info.info.firmwareVersion : undefined },
      });
      if (fw !== undefined && fw.kind !== 'ok') return { kind: 'silent', failure: fw };
    }
    return firmware ? this.#observeFirmware(endpoint, current) : ANSWERED;
  }

  /**
   * Observes 5/0/3 and 5/0/5 and stores the values the answers carry in one write, with any
   * notification that came meanwhile: the planner decides on State and Result together (say a
   * download lost in a restart: State Idle with Result 4 is the device's own verdict, State Idle
   * with Result 0 only a restart), so it must never see a fresh State beside a Result from
   * before the restart.
   */
  async #observeFirmware(endpoint: string, current: () => boolean): Promise<InterrogationOutcome> {
    const pending: PendingFirmwareValues = new Map();
    this.#establishing.set(endpoint, pending);
    try {
      return await this.#establishObservations(endpoint, current, pending);
    } finally {
      if (this.#establishing.get(endpoint) === pending) this.#establishing.delete(endpoint);
      this.#storeFirmwareValues(endpoint, pending);
    }
  }

  async #establishObservations(
    endpoint: string,
    current: () => boolean,
    pending: PendingFirmwareValues,
  ): Promise<InterrogationOutcome> {
    const ctx = this.#ctx;
    const client = ctx.server.device(endpoint);
    const made: Observation[] = [];
    // A notification stored in `pending` meanwhile is newer than the answer: it is kept.
    const keep = (path: FirmwarePath, value: ReportedCode | undefined) => {
      if (value !== undefined && !pending.has(path)) pending.set(path, value);
    };
    for (const path of FIRMWARE_PATHS) {
      // Observed by an earlier run for this registration (asked again while it ran): its
      // notifications already report the path.
      if (ctx.server.observations.has(endpoint, path)) continue;
      const r = await client.observe(path, this.#notified);
      if (!current()) {
        if (r.kind === 'ok') await r.observation.cancel({ active: false });
        return GONE;
      }
      if (r.kind === 'ok') {
        made.push(r.observation);
        keep(path, codeAt(r.records, path, FIRMWARE_RANGES[path]));
        continue;
      }
      if (isSilence(r)) {
        for (const obs of made) await obs.cancel({ active: false });
        return { kind: 'silent', failure: r };
      }
      // The device answers but will not be observed: store a plain read; the reconciler polls.
      ctx.log.debug({ endpoint, path, failure: r }, 'device refused an observation');
      const read = await client.read(path);
      if (read.kind === 'ok' && current()) keep(path, codeAt(read.records, path, FIRMWARE_RANGES[path]));
    }
    return ANSWERED;
  }

  /** One listener for every observation (a closure per observation would live as long as it). */
  readonly #notified = (n: NotificationResult, obs: Observation): void =>
    this.#onNotification(obs.endpoint, obs.path as FirmwarePath, n);

  #onNotification(endpoint: string, path: FirmwarePath, n: NotificationResult): void {
    if (this.#ctx.stopped) return;
    if (n.kind === 'ok') {
      const value = codeAt(n.records, path, FIRMWARE_RANGES[path]);
      if (value === undefined) return;
      const pending = this.#establishing.get(endpoint);
      if (pending !== undefined) pending.set(path, value);
      else this.#storeFirmwareValues(endpoint, new Map([[path, value]]));
      return;
    }
    // An error ends the observation (the registry no longer holds it); the next Update sets it up again.
    if (n.kind === 'error') return;
    this.#ctx.log.debug({ endpoint, path, reason: n.reason }, 'undecodable notification');
  }

  #storeFirmwareValues(endpoint: string, values: PendingFirmwareValues): void {
    if (values.size === 0) return;
    const state = values.get('/5/0/3');
    const result = values.get('/5/0/5');
    this.#ctx.warnings.unknownCodes(endpoint, state, result);
    this.#ctx.writes.enqueue({
      endpoint,
      patch: firmwarePatch(endpoint, state, result, this.#ctx.clock()),
      change: firmwareChange(state, result),
    });
  }
}
