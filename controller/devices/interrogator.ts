import type { DeviceClient, Failure, NotificationResult, Observation, RequestGate } from '../lwm2m/index.js';
import { codeAt, valueAt } from './device-info.js';
import type { DevicePatch } from './device-patch.js';
import {
  FIRMWARE_INSTANCE,
  FIRMWARE_PATHS,
  FIRMWARE_RANGES,
  type FirmwarePath,
  firmwareChange,
  firmwarePatch,
  hasFirmwareObject,
} from './firmware-report.js';
import {
  type FirmwareInfoRead,
  firmwareInfoOfInstance,
  isSilence,
  type Object3Answer,
  type Object3Read,
  readFirmwareInfo,
  readObject3,
} from './interrogate.js';
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

/** How far a device refuses whole-instance requests on object 5 (remembered, see `#instanceRefusals`). */
type InstanceRefusal = 'observe' | 'read';

/** Devices remembered as refusing whole-instance requests; past it the memory starts afresh. */
const MAX_INSTANCE_REFUSALS = 100_000;

/** Reads a device (object 3, 5/0/8, 5/0/9), observes its firmware state and stores what it reports. */
export class Interrogator {
  readonly #ctx: SyncContext;
  /** Firmware values of devices whose observations are being set up, stored once all answered. */
  readonly #establishing = new Map<string, PendingFirmwareValues>();
  /**
   * Devices that refused to have /5/0 observed ('observe') or also read ('read') whole: they go
   * straight to the requests that worked. Forgetting one costs a refused request once more; a
   * device that learned the instance requests with new firmware is still served right by the
   * single-resource ones.
   */
  readonly #instanceRefusals = new Map<string, InstanceRefusal>();

  constructor(ctx: SyncContext) {
    this.#ctx = ctx;
  }

  /**
   * Interrogates `endpoint`'s current registration: with `full`, reads object 3 (or takes the
   * probe's answer, `probed`, if it came under this registration) and the firmware object's
   * protocols; then observes the firmware State and Update Result. Where the device allows it,
   * one Observe of the instance /5/0 does both of the latter (2 exchanges instead of 5). `gate`:
   * what its requests go through (see RequestGate).
   */
  async interrogate(
    endpoint: string,
    full: boolean,
    probed: ProbeAnswer | undefined,
    gate?: RequestGate,
  ): Promise<InterrogationOutcome> {
    const ctx = this.#ctx;
    const reg = ctx.server.registration(endpoint);
    if (reg === undefined || ctx.stopped) return GONE;
    // A probe of an earlier registration describes the device before it registered again: after a
    // reboot into new firmware, the old version. Read it again.
    if (probed !== undefined && probed.registrationId !== reg.id) probed = undefined;
    const current = () => !ctx.stopped && ctx.server.registration(endpoint)?.id === reg.id;
    const firmware = hasFirmwareObject(reg);
    const client = ctx.server.device(endpoint, gate);
    if (!full) return firmware ? this.#observeFirmware(client, current, undefined) : ANSWERED;
    const info = await readObject3(client, ctx.clock, probed);
    if (!current()) return GONE;
    if (info.kind !== 'ok' && isSilence(info)) return { kind: 'silent', failure: info };
    const storeInfo = (fw: FirmwareInfoRead | undefined) => this.#storeInfo(endpoint, info, fw);
    if (!firmware) {
      storeInfo(undefined);
      return ANSWERED;
    }
    return this.#observeFirmware(client, current, storeInfo);
  }

  /**
   * Enqueues what object 3 (`info`) and 5/0/8, 5/0/9 (`fw`, when read) told, in one write; before
   * the firmware values, as they used to be.
   */
  #storeInfo(endpoint: string, info: Object3Read, fw: FirmwareInfoRead | undefined): void {
    const ctx = this.#ctx;
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
  }

  /**
   * Observes State and Update Result (the instance /5/0, else 5/0/3 and 5/0/5) and stores the
   * values the answers carry in one write, with any notification that came meanwhile: the planner
   * decides on State and Result together (say a download lost in a restart: State Idle with
   * Result 4 is the device's own verdict, State Idle with Result 0 only a restart), so it must
   * never see a fresh State beside a Result from before the restart. `storeInfo` (a full
   * interrogation): called with 5/0/8 and 5/0/9 once known, or with the failure to learn them.
   */
  async #observeFirmware(
    client: DeviceClient,
    current: () => boolean,
    storeInfo: ((fw: FirmwareInfoRead) => void) | undefined,
  ): Promise<InterrogationOutcome> {
    const { endpoint } = client;
    const pending: PendingFirmwareValues = new Map();
    this.#establishing.set(endpoint, pending);
    try {
      return await this.#establishObservations(client, current, pending, storeInfo);
    } finally {
      if (this.#establishing.get(endpoint) === pending) this.#establishing.delete(endpoint);
      this.#storeFirmwareValues(endpoint, pending);
    }
  }

  async #establishObservations(
    client: DeviceClient,
    current: () => boolean,
    pending: PendingFirmwareValues,
    storeInfo: ((fw: FirmwareInfoRead) => void) | undefined,
  ): Promise<InterrogationOutcome> {
    const ctx = this.#ctx;
    const { endpoint } = client;
    const observations = ctx.server.observations;
    const made: Observation[] = [];
    // A notification stored in `pending` meanwhile is newer than the answer: it is kept.
    const keep = (path: FirmwarePath, value: ReportedCode | undefined) => {
      if (value !== undefined && !pending.has(path)) pending.set(path, value);
    };
    /** 5/0/8 and 5/0/9 by a Read (when asked for); undefined when stored, a failure when silent. */
    const readInfo = async (): Promise<InterrogationOutcome | undefined> => {
      if (storeInfo === undefined) return undefined;
      const fw = await this.#readFirmwareInfo(endpoint, client);
      if (!current()) return GONE;
      storeInfo(fw);
      return fw.kind === 'ok' ? undefined : { kind: 'silent', failure: fw };
    };
    let paths: readonly FirmwarePath[] = FIRMWARE_PATHS;
    if (observations.has(endpoint, FIRMWARE_INSTANCE)) {
      // Observed whole by an earlier run for this registration (asked again while it ran): its
      // notifications already report State and Result.
      return (await readInfo()) ?? ANSWERED;
    }
    if (
      this.#instanceRefusals.has(endpoint) ||
      FIRMWARE_PATHS.some((path) => observations.has(endpoint, path))
    ) {
      const outcome = await readInfo();
      if (outcome !== undefined) return outcome;
    } else {
      const r = await client.observe(FIRMWARE_INSTANCE, this.#notified);
      if (!current()) {
        if (r.kind === 'ok') await r.observation.cancel({ active: false });
        return GONE;
      }
      if (r.kind === 'ok') {
        made.push(r.observation);
        storeInfo?.(firmwareInfoOfInstance(r.records));
        for (const path of FIRMWARE_PATHS) keep(path, codeAt(r.records, path, FIRMWARE_RANGES[path]));
        // An answer without State or Result (no client seen does that): observed one by one.
        paths = FIRMWARE_PATHS.filter((path) => valueAt(r.records, path) === undefined);
      } else if (isSilence(r)) {
        storeInfo?.(r);
        return { kind: 'silent', failure: r };
      } else {
        // Some clients observe resources only (or cannot encode a whole instance): as before.
        ctx.log.debug({ endpoint, failure: r }, 'device refused an observation of /5/0');
        this.#refusedInstance(endpoint, 'observe');
        const outcome = await readInfo();
        if (outcome !== undefined) return outcome;
      }
    }
    for (const path of paths) {
      // Observed by an earlier run for this registration (asked again while it ran): its
      // notifications already report the path.
      if (observations.has(endpoint, path)) continue;
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

  /**
   * 5/0/8 and 5/0/9: one Read of the instance /5/0, or (for a device that refuses it) a Read of
   * each; an error answer means "not there", silence is a failure.
   */
  async #readFirmwareInfo(endpoint: string, client: DeviceClient): Promise<FirmwareInfoRead> {
    if (this.#instanceRefusals.get(endpoint) !== 'read') {
      const whole = await client.read(FIRMWARE_INSTANCE);
      if (whole.kind === 'ok') return firmwareInfoOfInstance(whole.records);
      if (isSilence(whole)) return whole;
      this.#ctx.log.debug({ endpoint, failure: whole }, 'device refused a read of /5/0');
      this.#refusedInstance(endpoint, 'read');
    }
    return readFirmwareInfo(client);
  }

  #refusedInstance(endpoint: string, how: InstanceRefusal): void {
    const refusals = this.#instanceRefusals;
    if (refusals.size >= MAX_INSTANCE_REFUSALS && !refusals.has(endpoint)) refusals.clear();
    refusals.set(endpoint, how);
  }

  /** One listener for every observation (a closure per observation would live as long as it). */
  readonly #notified = (n: NotificationResult, obs: Observation): void =>
    this.#onNotification(obs.endpoint, obs.path, n);

  #onNotification(endpoint: string, path: string, n: NotificationResult): void {
    if (this.#ctx.stopped) return;
    if (n.kind === 'ok') {
      // An instance notification carries State and Result together: stored together.
      const values: PendingFirmwareValues = new Map();
      for (const p of path === FIRMWARE_INSTANCE ? FIRMWARE_PATHS : [path as FirmwarePath]) {
        const value = codeAt(n.records, p, FIRMWARE_RANGES[p]);
        if (value !== undefined) values.set(p, value);
      }
      if (values.size === 0) return;
      const pending = this.#establishing.get(endpoint);
      if (pending === undefined) this.#storeFirmwareValues(endpoint, values);
      else for (const [p, value] of values) pending.set(p, value);
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
