import type { Kysely } from 'kysely';
import type {
  Failure,
  Lwm2mLogger,
  Lwm2mServer,
  NotificationResult,
  Observation,
  ReadResult,
  RegisteredEvent,
  RegistrationChange,
  RegistrationEndedEvent,
  UpdatedEvent,
} from '../lwm2m/index.js';
import { type Registration, registeredObjects } from '../lwm2m/registration/registration.js';
import type { Database } from '../store/schema.js';
import type { DeviceChange } from './device-change.js';
import { codeAt } from './device-info.js';
import type { DevicePatch } from './device-patch.js';
import { eventLoopSaturation } from './event-loop-load.js';
import { expireStaleRegistrations } from './expire-stale.js';
import {
  type FirmwareStateRead,
  type FirmwareVersionRead,
  isSilence,
  readFirmwareInfo,
  readFirmwareState,
  readFirmwareVersion,
  readObject3,
} from './interrogate.js';
import { Limiter } from './limiter.js';
import {
  deregisteredEvent,
  expiredEvent,
  registeredEvent,
  registrationUpdatedEvent,
} from './registration-events.js';
import { registrationPatch } from './registration-row.js';
import { CODE_RANGES, type ReportedCode } from './reported-code.js';
import { SilenceBackoff } from './silence-backoff.js';
import { type DeviceWrite, DeviceWriteQueue, type WriteStats } from './write-queue.js';

export interface DeviceSyncOptions {
  readonly server: Lwm2mServer;
  readonly db: Kysely<Database>;
  /** Epoch ms; injectable. Default Date.now. */
  readonly clock?: () => number;
  readonly logger?: Lwm2mLogger;
  /** Called after the write that reflects the change has committed. Must not throw (it is logged). */
  readonly onDeviceChanged?: (endpoint: string, why: DeviceChange) => void;
  /** Devices per batch (a batch is sent as soon as a write slot is free). Default 500. */
  readonly maxBatch?: number;
  /** Batches written at once (on distinct devices). Default 2. */
  readonly concurrentWrites?: number;
  /** Devices interrogated (or read on request) at once. Default 256. */
  readonly maxConcurrentReads?: number;
  /**
   * Interrogations at once during a registration storm (at least `stormBacklog` Registers or
   * Updates waiting for their commit, or some while the event loop is saturated): they yield to the
   * registrations but keep going. Default 2.
   */
  readonly interrogationsWhileBusy?: number;
  /** Registers and Updates waiting for their commit that make a storm. Default 32. */
  readonly stormBacklog?: number;
  /**
   * Devices not yet known to answer are probed (object 3 read once, with a short deadline) in a
   * lane of their own before they are interrogated: this many probes at once (a probe of a silent
   * device is one datagram and a timer). Default 4096.
   */
  readonly maxConcurrentProbes?: number;
  /**
   * Deadline of a device's first probe, in ms (with the fleet timing: one transmission, no
   * retransmission); it doubles with each silence in a row, up to 16 times, so that a device on a
   * slow link is reached by a later probe. Default 2 s.
   */
  readonly probeTimeoutMs?: number;
  /** Wait after a device's first silence before it is asked again; doubles with each. Default 60 s. */
  readonly silenceBackoffMs?: number;
  /** Longest wait after a silence. Default 1 h. */
  readonly maxSilenceBackoffMs?: number;
  /**
   * How often devices whose wait after a silence ended are probed again, in ms; 0: only at their
   * next Update (as are queue-mode devices always). Default 5 s.
   */
  readonly backoffSweepMs?: number;
  /**
   * Called after each probe, interrogation or requested read ended and released its slot: when
   * the interrogation figures of `stats()` (and the backoff they follow from) may have changed.
   */
  readonly onReadEnded?: () => void;
}

export interface DeviceSyncStats {
  readonly writes: Readonly<WriteStats>;
  /** Register and Update rows queued and not yet committed. */
  readonly registrationsUncommitted: number;
  readonly interrogations: {
    /** Interrogations and probes running. */
    readonly running: number;
    /** Interrogations, probes and requested reads waiting. */
    readonly waiting: number;
    readonly probesRunning: number;
    readonly probesWaiting: number;
    /** Devices that did not answer, waiting out their backoff or due for another probe. */
    readonly backedOff: number;
  };
}

export interface DeviceSync {
  /**
   * Resolves once start-up work is done: stored registrations that ended while no controller ran are
   * marked expired, and devices restored into the server before start are observed (and read) again.
   */
  readonly resumed: Promise<void>;
  /** Reads 5/0/3 and 5/0/5 now and stores them; resolves after the write committed. */
  readFirmwareState(endpoint: string): Promise<FirmwareStateRead>;
  /** Reads 3/0/3 now and stores it (with info_read_at); resolves after the write committed. */
  readFirmwareVersion(endpoint: string): Promise<FirmwareVersionRead>;
  /** Writes what is queued now. */
  flush(): Promise<void>;
  stats(): DeviceSyncStats;
  /** For Lwm2mServer's `beforeAnswer`: resolves once the Register/Update row is committed. */
  persistBeforeAnswer(change: RegistrationChange): Promise<void>;
  /** Stops listening, drops observations, writes what is queued. */
  stop(): Promise<void>;
}

const FIRMWARE_PATHS = ['/5/0/3', '/5/0/5'] as const;
const FIRMWARE_RANGES = { '/5/0/3': CODE_RANGES.state, '/5/0/5': CODE_RANGES.result } as const;
/** Devices (and what about them) already warned of a value they report: one line per device, not per packet. */
const MAX_WARNED = 10_000;

type FirmwarePath = (typeof FIRMWARE_PATHS)[number];

const silentLogger: Lwm2mLogger = { debug() {}, warn() {}, error() {} };

/** One interrogation per endpoint at a time; a request during a run asks for one more run. */
interface Task {
  phase: 'queued' | 'running' | 'again';
  /** Read object 3 and 5/0/8, 5/0/9 too (not only observe). */
  full: boolean;
  /** Called once the runs asked for so far are done; most tasks have none (a storm queues many). */
  waiters: (() => void)[] | undefined;
  /** The answer to the probe's read of /3/0, for the interrogation that follows it. */
  probed: ReadResult | undefined;
  /** The quick first probe went unanswered; this is the second, with a longer deadline. */
  reprobe: boolean;
}

/** Devices remembered as answering; past it the oldest quarter is forgotten (and probed again). */
const MAX_ANSWERING = 1_000_000;
/** A queue-mode device is surely listening this long after its Register or Update (the server's default is 93 s). */
const QUEUE_MODE_AWAKE_MS = 60_000;
/** Devices due for another probe that one sweep takes up. */
const SWEEP_LIMIT = 10_000;

/** Mirrors the LwM2M server's registrations and firmware reports into the `devices` table. */
export function startDeviceSync(opts: DeviceSyncOptions): DeviceSync {
  return new DeviceSyncImpl(opts);
}

class DeviceSyncImpl implements DeviceSync {
  readonly resumed: Promise<void>;
  readonly #server: Lwm2mServer;
  readonly #clock: () => number;
  readonly #log: Lwm2mLogger;
  readonly #writes: DeviceWriteQueue;
  readonly #reads: Limiter;
  readonly #tasks = new Map<string, Task>();
  /** Register and Update rows queued and not yet committed. */
  #registrationsUncommitted = 0;
  readonly #saturated = eventLoopSaturation();
  /** Live observations by endpoint (the server drops its own on re-registration and expiry). */
  readonly #observations = new Map<string, Observation[]>();
  /**
   * Registers and Updates whose row `persistBeforeAnswer` already queued, cleared by their event:
   * the server hands both the same Registration object, a new one for every Register and Update.
   */
  readonly #prewritten = new WeakSet<Registration>();
  /** Devices whose interrogation got no answer: tried again once their backoff ended. */
  readonly #retry = new Set<string>();
  readonly #warned = new Set<string>();
  /**
   * Devices that answered a request and have not been silent since: interrogated in the main lane.
   * The others are probed first, in a lane of their own.
   */
  readonly #answering = new Set<string>();
  readonly #backoff: SilenceBackoff;
  readonly #probeTimeoutMs: number;
  readonly #sweep: NodeJS.Timeout | undefined;
  readonly #listeners: {
    registered: (e: RegisteredEvent) => void;
    updated: (e: UpdatedEvent) => void;
    deregistered: (e: RegistrationEndedEvent) => void;
    expired: (e: RegistrationEndedEvent) => void;
  };
  readonly #onCommitted: (endpoint: string, why: DeviceChange) => void;
  #stopped = false;

  constructor(opts: DeviceSyncOptions) {
    this.#server = opts.server;
    this.#clock = opts.clock ?? Date.now;
    this.#log = opts.logger ?? silentLogger;
    const stormBacklog = opts.stormBacklog ?? 32;
    this.#probeTimeoutMs = opts.probeTimeoutMs ?? 2000;
    this.#backoff = new SilenceBackoff({
      clock: this.#clock,
      firstDelayMs: opts.silenceBackoffMs ?? 60_000,
      maxDelayMs: opts.maxSilenceBackoffMs ?? 3_600_000,
    });
    this.#reads = new Limiter({
      max: opts.maxConcurrentReads ?? 256,
      ...(opts.onReadEnded === undefined ? {} : { onFinished: opts.onReadEnded }),
      maxProbes: opts.maxConcurrentProbes ?? 4096,
      backgroundWhileBusy: opts.interrogationsWhileBusy ?? 2,
      // A storm: many registrations wait for their commit (the database is what they wait for, so
      // the event loop need not look busy), or some do and the CPU has no room for anything else.
      busy: () =>
        this.#registrationsUncommitted >= stormBacklog ||
        (this.#registrationsUncommitted > 0 && this.#saturated()),
    });
    const onChanged = opts.onDeviceChanged ?? (() => {});
    this.#onCommitted = onChanged;
    this.#writes = new DeviceWriteQueue(opts.db, {
      maxBatch: opts.maxBatch ?? 500,
      maxConcurrentBatches: opts.concurrentWrites ?? 2,
      clock: this.#clock,
      logger: this.#log,
      onCommitted: (endpoint, why) => {
        if (why.kind === 'registered' || why.kind === 'updated') this.#registrationsUncommitted--;
        onChanged(endpoint, why);
      },
      // A refused registration write will never commit: stop counting it as a storm backlog.
      onRejected: (_endpoint, why) => {
        if (why.kind === 'registered' || why.kind === 'updated') this.#registrationsUncommitted--;
      },
    });
    this.#listeners = {
      registered: (e) => this.#guard('registered', () => this.#onRegistered(e.registration, e.previous)),
      updated: (e) => this.#guard('updated', () => this.#onUpdated(e.registration, e.previous)),
      deregistered: (e) => this.#guard('deregistered', () => this.#onEnded(e.registration, 'deregistered')),
      expired: (e) => this.#guard('expired', () => this.#onEnded(e.registration, 'expired')),
    };
    this.#server.on('registered', this.#listeners.registered);
    this.#server.on('updated', this.#listeners.updated);
    this.#server.on('deregistered', this.#listeners.deregistered);
    this.#server.on('expired', this.#listeners.expired);
    this.resumed = this.#resume(opts.db).catch((err) => {
      this.#log.error({ err }, 'resuming restored devices failed');
    });
    const sweepMs = opts.backoffSweepMs ?? 5000;
    if (sweepMs > 0) {
      this.#sweep = setInterval(() => this.#guard('sweep', () => this.#probeDue()), sweepMs);
      this.#sweep.unref();
    }
  }

  async readFirmwareState(endpoint: string): Promise<FirmwareStateRead> {
    if (this.#stopped) return stoppedFailure;
    const read = await this.#reads.run(() => readFirmwareState(this.#server.device(endpoint), this.#clock));
    if (read.kind !== 'ok' || this.#stopped) return read;
    const state = readCode(read.state, read.unknown?.state);
    const result = readCode(read.result, read.unknown?.result);
    this.#warnUnknownCodes(endpoint, state, result);
    await this.#writes.enqueueAndWait({
      endpoint,
      patch: firmwarePatch(endpoint, state, result, read.reportedAt),
      change: firmwareChange(state, result),
    });
    return read;
  }

  async readFirmwareVersion(endpoint: string): Promise<FirmwareVersionRead> {
    if (this.#stopped) return stoppedFailure;
    const read = await this.#reads.run(() => readFirmwareVersion(this.#server.device(endpoint), this.#clock));
    if (read.kind !== 'ok' || this.#stopped) return read;
    await this.#writes.enqueueAndWait({
      endpoint,
      patch: {
        endpoint,
        firmware_version: read.firmwareVersion,
        info_read_at: new Date(read.readAt),
        updated_at: new Date(read.readAt),
      },
      checkVersion: true,
      change: { kind: 'firmware-version', firmwareVersion: read.firmwareVersion },
    });
    return read;
  }

  async flush(): Promise<void> {
    while (this.#writes.pending > 0) if (!(await this.#writes.flush())) return;
  }

  stats(): DeviceSyncStats {
    return {
      writes: this.#writes.stats,
      registrationsUncommitted: this.#registrationsUncommitted,
      interrogations: {
        running: this.#reads.runningBackground + this.#reads.runningProbes,
        waiting: this.#reads.waiting + this.#reads.waitingProbes,
        probesRunning: this.#reads.runningProbes,
        probesWaiting: this.#reads.waitingProbes,
        backedOff: this.#backoff.size,
      },
    };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#sweep);
    this.#server.off('registered', this.#listeners.registered);
    this.#server.off('updated', this.#listeners.updated);
    this.#server.off('deregistered', this.#listeners.deregistered);
    this.#server.off('expired', this.#listeners.expired);
    // Passive: telling 100k devices at shutdown would be a storm; each RSTs its next notification.
    const cancels: Promise<void>[] = [];
    for (const list of this.#observations.values()) {
      for (const obs of list) cancels.push(obs.cancel({ active: false }).catch(() => {}));
    }
    this.#observations.clear();
    await Promise.all(cancels);
    await this.#writes.close();
  }

  // ---- registration events -------------------------------------------------------------------

  /**
   * The server's `beforeAnswer` hook: queues the registration's row and resolves once it is
   * committed, so a Register is on disk before the device hears 2.01.
   */
  persistBeforeAnswer(change: RegistrationChange): Promise<void> {
    const reg = change.registration;
    this.#prewritten.add(reg);
    return this.#writes.enqueueAndWait(this.#registrationWrite(change));
  }

  #registrationWrite(change: RegistrationChange): DeviceWrite {
    const reg = change.registration;
    const now = this.#clock();
    this.#registrationsUncommitted++;
    if (change.kind === 'registered') {
      return {
        endpoint: reg.endpoint,
        patch: registrationPatch(reg, now),
        events: [registeredEvent(reg, change.previous, now)],
        change: { kind: 'registered', registrationId: reg.id },
      };
    }
    // Most Updates are keep-alives: they move last_seen_at and expires_at but are no event.
    const updated = registrationUpdatedEvent(reg, change.previous, now);
    return {
      endpoint: reg.endpoint,
      patch: registrationPatch(reg, now),
      ...(updated === undefined ? {} : { events: [updated] }),
      change: { kind: 'updated', registrationId: reg.id },
    };
  }

  #onRegistered(reg: Registration, previous: Registration | undefined): void {
    // The server already dropped the observations of the previous registration (a dead port).
    this.#observations.delete(reg.endpoint);
    if (!this.#prewritten.delete(reg)) {
      this.#writes.enqueue(this.#registrationWrite({ kind: 'registered', registration: reg, previous }));
    }
    this.#interrogate(reg.endpoint, true);
  }

  #onUpdated(reg: Registration, previous: Registration): void {
    if (!this.#prewritten.delete(reg)) {
      this.#writes.enqueue(this.#registrationWrite({ kind: 'updated', registration: reg, previous }));
    }
    const neverRead = this.#retry.has(reg.endpoint);
    // A device waiting out a silence is asked again by the sweep, or at an Update once it is over.
    if (!this.#backoff.mayTry(reg.endpoint)) return;
    if (neverRead || (hasFirmwareObject(reg) && !this.#observations.has(reg.endpoint))) {
      this.#interrogate(reg.endpoint, neverRead);
    }
  }

  #onEnded(reg: Registration, state: 'deregistered' | 'expired'): void {
    const now = this.#clock();
    this.#observations.delete(reg.endpoint);
    this.#retry.delete(reg.endpoint);
    this.#backoff.forget(reg.endpoint);
    // A device that de-registers (to reboot, say) is still one that answers; one that expired may not be.
    if (state === 'expired') this.#answering.delete(reg.endpoint);
    this.#writes.enqueue({
      endpoint: reg.endpoint,
      end: { registrationId: reg.id, state },
      events: [state === 'expired' ? expiredEvent(reg, now) : deregisteredEvent(reg, now)],
      change: { kind: state, registrationId: reg.id },
    });
  }

  /** Restored registrations (a restarted controller): observe again, read those never read. */
  async #resume(db: Kysely<Database>): Promise<void> {
    for (const gone of await expireStaleRegistrations(db, this.#clock())) {
      try {
        this.#onCommitted(gone.endpoint, { kind: 'expired', registrationId: gone.registrationId });
      } catch (err) {
        this.#log.error({ err, endpoint: gone.endpoint }, 'onDeviceChanged threw');
      }
    }
    const restored = [...this.#server.registrations()];
    if (restored.length === 0) return;
    const unread = new Set(
      (
        await db
          .selectFrom('devices')
          .select('endpoint')
          .where('registration_state', '=', 'registered')
          .where('info_read_at', 'is', null)
          .execute()
      ).map((r) => r.endpoint),
    );
    const runs: Promise<void>[] = [];
    for (const reg of restored) {
      if (this.#stopped) break;
      const full = unread.has(reg.endpoint);
      // Read before (by this or an earlier run): interrogated in the main lane, no probe first.
      if (!full) this.#rememberAnswering(reg.endpoint);
      // A sleeping queue-mode device is reached when it next sends an Update.
      if (reg.queueMode) {
        if (full) this.#retry.add(reg.endpoint);
        continue;
      }
      if (full || hasFirmwareObject(reg)) runs.push(this.#interrogated(reg.endpoint, full));
    }
    await Promise.all(runs);
  }

  // ---- interrogation -------------------------------------------------------------------------

  #interrogate(endpoint: string, full: boolean): Task {
    const existing = this.#tasks.get(endpoint);
    if (existing !== undefined) {
      existing.full ||= full;
      if (existing.phase === 'running') existing.phase = 'again';
      return existing;
    }
    const task: Task = {
      phase: 'queued',
      full,
      waiters: undefined,
      probed: undefined,
      reprobe: false,
    };
    this.#tasks.set(endpoint, task);
    this.#schedule(endpoint, task);
    return task;
  }

  /** Resolves once the interrogation asked for now has run. */
  #interrogated(endpoint: string, full: boolean): Promise<void> {
    const task = this.#interrogate(endpoint, full);
    return new Promise((resolve) => {
      task.waiters ??= [];
      task.waiters.push(resolve);
    });
  }

  /**
   * Devices known to answer are interrogated in the main lane; the others are probed first in a
   * lane of their own, so that registrations that never answer cannot hold the main lane's slots.
   */
  #schedule(endpoint: string, task: Task): void {
    if (this.#answering.has(endpoint)) {
      this.#reads.start(() => this.#run(endpoint, task), 'background');
    } else {
      const again = this.#backoff.failures(endpoint) > 0;
      this.#reads.start(() => this.#probe(endpoint, task), again ? 'probe-retry' : 'probe');
    }
  }

  /**
   * One read of /3/0 with a short deadline: a device that answers it (with anything) goes on to
   * the main lane with the answer; a silent one is backed off.
   */
  async #probe(endpoint: string, task: Task): Promise<void> {
    task.phase = 'running';
    const reg = this.#server.registration(endpoint);
    if (reg === undefined || this.#stopped) return this.#settled(endpoint, task);
    if (reg.queueMode && this.#clock() - reg.lastUpdateAt > QUEUE_MODE_AWAKE_MS) {
      // Asleep by now: the request would wait for its next Update, holding a probe slot.
      this.#retry.add(endpoint);
      return this.#settled(endpoint, task);
    }
    const reprobe = task.reprobe;
    task.reprobe = false;
    const silences = this.#backoff.failures(endpoint) + (reprobe ? 1 : 0);
    let answer: ReadResult;
    try {
      answer = await this.#server
        .device(endpoint)
        .read('/3/0', { timeoutMs: this.#probeTimeoutMs * 2 ** Math.min(silences, 4) });
    } catch (err) {
      this.#log.error({ err, endpoint }, 'probing a device failed');
      return this.#settled(endpoint, task);
    }
    if (this.#stopped) return this.#settled(endpoint, task);
    if (answer.kind !== 'ok' && isSilence(answer)) {
      if (this.#server.registration(endpoint)?.id !== reg.id) return this.#settled(endpoint, task);
      if (silences === 0) {
        // One datagram lost, or an event loop stalled past the short deadline (an embedded
        // database's long statement), must not cost a device that answers a minute: a second
        // probe, with twice the deadline, after the first probes of other devices.
        task.reprobe = true;
        task.phase = 'queued';
        this.#reads.start(() => this.#probe(endpoint, task), 'probe-retry');
        return;
      }
      this.#noAnswer(endpoint, answer);
      return this.#settled(endpoint, task);
    }
    this.#rememberAnswering(endpoint);
    this.#backoff.forget(endpoint);
    task.probed = this.#server.registration(endpoint)?.id === reg.id ? answer : undefined;
    task.phase = 'queued';
    this.#reads.start(() => this.#run(endpoint, task), 'background');
  }

  async #run(endpoint: string, task: Task): Promise<void> {
    task.phase = 'running';
    const full = task.full;
    task.full = false;
    const probed = task.probed;
    task.probed = undefined;
    try {
      await this.#interrogateNow(endpoint, full, probed);
    } catch (err) {
      this.#log.error({ err, endpoint }, 'interrogating a device failed');
    }
    this.#settled(endpoint, task);
  }

  /** After a run or a probe: runs again if asked to meanwhile, or ends the task. */
  #settled(endpoint: string, task: Task): void {
    // The phase may have moved to 'again' while the run awaited.
    if (task.phase === 'again' && !this.#stopped) {
      task.phase = 'queued';
      this.#schedule(endpoint, task);
      return;
    }
    this.#tasks.delete(endpoint);
    for (const resolve of task.waiters ?? []) resolve();
  }

  /** Probes again the devices whose wait after a silence is over (not asleep queue-mode ones). */
  #probeDue(): void {
    for (const endpoint of this.#backoff.takeDue(SWEEP_LIMIT)) {
      const reg = this.#server.registration(endpoint);
      if (reg === undefined) {
        this.#backoff.forget(endpoint);
        this.#retry.delete(endpoint);
      } else if (!reg.queueMode && this.#retry.has(endpoint)) this.#interrogate(endpoint, true);
    }
  }

  #rememberAnswering(endpoint: string): void {
    if (this.#answering.size >= MAX_ANSWERING && !this.#answering.has(endpoint)) {
      let evict = MAX_ANSWERING / 4;
      for (const known of this.#answering) {
        this.#answering.delete(known);
        if (--evict === 0) break;
      }
    }
    this.#answering.add(endpoint);
  }

  async #interrogateNow(endpoint: string, full: boolean, probed: ReadResult | undefined): Promise<void> {
    const reg = this.#server.registration(endpoint);
    if (reg === undefined || this.#stopped) return;
    const current = () => !this.#stopped && this.#server.registration(endpoint)?.id === reg.id;
    const client = this.#server.device(endpoint);
    const firmware = hasFirmwareObject(reg);
    if (full) {
      const info = await readObject3(client, this.#clock, probed);
      if (!current()) return;
      if (info.kind !== 'ok' && isSilence(info)) {
        this.#noAnswer(endpoint, info);
        return;
      }
      const fw = firmware ? await readFirmwareInfo(client) : undefined;
      if (!current()) return;
      const now = this.#clock();
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
        });
        if (info.info.refused.length > 0) {
          this.#warnOnce(
            endpoint,
            'info',
            { refused: info.info.refused },
            'device reports text that is not stored',
          );
        }
      } else this.#log.warn({ endpoint, failure: info }, 'device refused to be read: object 3 unknown');
      if (fw?.kind === 'ok') {
        patch.fw_protocol_support = fw.protocols;
        patch.fw_delivery_method = fw.deliveryMethod;
        if (fw.ignored.length > 0) {
          this.#warnOnce(
            endpoint,
            'fw-info',
            { ignored: fw.ignored },
            'device reports codes outside the spec, ignored',
          );
        }
      }
      this.#writes.enqueue({
        endpoint,
        patch: patch as DevicePatch,
        checkVersion: true,
        change: { kind: 'info', firmwareVersion: info.kind === 'ok' ? info.info.firmwareVersion : undefined },
      });
      if (fw !== undefined && fw.kind !== 'ok') {
        this.#noAnswer(endpoint, fw);
        return;
      }
    }
    if (firmware && !(await this.#observeFirmware(endpoint, current))) return;
    this.#retry.delete(endpoint);
    this.#backoff.forget(endpoint);
    this.#rememberAnswering(endpoint);
  }

  /** The device did not answer: probed first next time, and not before its backoff ends. */
  #noAnswer(endpoint: string, failure: Failure): void {
    this.#answering.delete(endpoint);
    const retryAt = this.#backoff.silent(endpoint);
    this.#retry.add(endpoint);
    this.#log.debug(
      { endpoint, failure, retryAt: new Date(retryAt).toISOString() },
      'device did not answer; asking again once its backoff ends',
    );
  }

  /** Observes 5/0/3 and 5/0/5, storing the values the answers carry. False when the device is silent. */
  async #observeFirmware(endpoint: string, current: () => boolean): Promise<boolean> {
    const client = this.#server.device(endpoint);
    const made: Observation[] = [];
    for (const path of FIRMWARE_PATHS) {
      const r = await client.observe(path, this.#notified);
      if (!current()) {
        if (r.kind === 'ok') await r.observation.cancel({ active: false });
        return false;
      }
      if (r.kind === 'ok') {
        made.push(r.observation);
        this.#storeFirmwareValue(endpoint, path, codeAt(r.records, path, FIRMWARE_RANGES[path]));
        continue;
      }
      if (isSilence(r)) {
        this.#noAnswer(endpoint, r);
        for (const obs of made) await obs.cancel({ active: false });
        return false;
      }
      // The device answers but will not be observed: store a plain read; the reconciler polls.
      this.#log.debug({ endpoint, path, failure: r }, 'device refused an observation');
      const read = await client.read(path);
      if (read.kind === 'ok' && current()) {
        this.#storeFirmwareValue(endpoint, path, codeAt(read.records, path, FIRMWARE_RANGES[path]));
      }
    }
    // A copy of exactly its length: `made` grew by push (room for 17), and this one is kept.
    if (made.length > 0) this.#observations.set(endpoint, made.slice());
    return true;
  }

  /** One listener for every observation (a closure per observation would live as long as it). */
  readonly #notified = (n: NotificationResult, obs: Observation): void =>
    this.#onNotification(obs.endpoint, obs.path as FirmwarePath, n);

  #onNotification(endpoint: string, path: FirmwarePath, n: NotificationResult): void {
    if (this.#stopped) return;
    if (n.kind === 'ok') {
      this.#storeFirmwareValue(endpoint, path, codeAt(n.records, path, FIRMWARE_RANGES[path]));
      return;
    }
    if (n.kind === 'error') {
      // The observation ended; the next Update sets it up again.
      const left = this.#observations.get(endpoint)?.filter((o) => o.path !== path) ?? [];
      if (left.length > 0) this.#observations.set(endpoint, left);
      else this.#observations.delete(endpoint);
      return;
    }
    this.#log.debug({ endpoint, path, reason: n.reason }, 'undecodable notification');
  }

  #storeFirmwareValue(endpoint: string, path: FirmwarePath, value: ReportedCode | undefined): void {
    if (value === undefined) return;
    const state = path === '/5/0/3' ? value : undefined;
    const result = path === '/5/0/5' ? value : undefined;
    this.#warnUnknownCodes(endpoint, state, result);
    this.#writes.enqueue({
      endpoint,
      patch: firmwarePatch(endpoint, state, result, this.#clock()),
      change: firmwareChange(state, result),
    });
  }

  #warnUnknownCodes(
    endpoint: string,
    state: ReportedCode | undefined,
    result: ReportedCode | undefined,
  ): void {
    if (state?.kind === 'unknown') {
      this.#warnOnce(endpoint, 'state', { state: state.raw }, 'device reports a 5/0/3 State outside 0..3');
    }
    if (result?.kind === 'unknown') {
      this.#warnOnce(
        endpoint,
        'result',
        { result: result.raw },
        'device reports a 5/0/5 Update Result outside 0..11',
      );
    }
  }

  /** Bounded: past MAX_WARNED devices the memory starts over (a device may then be warned of again). */
  #warnOnce(endpoint: string, about: string, details: Record<string, unknown>, message: string): void {
    const key = `${about}\n${endpoint}`;
    if (this.#warned.has(key)) return;
    if (this.#warned.size >= MAX_WARNED) this.#warned.clear();
    this.#warned.add(key);
    this.#log.warn({ endpoint, ...details }, message);
  }

  #guard(event: string, fn: () => void): void {
    if (this.#stopped) return;
    try {
      fn();
    } catch (err) {
      this.#log.error({ err, event }, 'device sync failed to handle a server event');
    }
  }
}

const stoppedFailure: Failure = { kind: 'unreachable', reason: 'device sync stopped' };

/** By link body: a fleet sends few distinct bodies, and every Register and Update asks. */
const firmwareByLinks = new Map<string, boolean>();

function hasFirmwareObject(reg: Registration): boolean {
  let has = firmwareByLinks.get(reg.links);
  if (has === undefined) {
    has = registeredObjects(reg).objects.some((o) => o.objectId === 5);
    if (firmwareByLinks.size >= 256) firmwareByLinks.clear();
    firmwareByLinks.set(reg.links, has);
  }
  return has;
}

/** A code from `readFirmwareState`: the known one, or the raw text of an unknown one. */
function readCode(known: number | undefined, raw: string | undefined): ReportedCode | undefined {
  if (known !== undefined) return { kind: 'known', code: known };
  return raw === undefined ? undefined : { kind: 'unknown', raw };
}

/** A known code fills the column and clears its raw text; an unknown one is null with the raw text kept. */
function firmwarePatch(
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

function firmwareChange(state: ReportedCode | undefined, result: ReportedCode | undefined): DeviceChange {
  return {
    kind: 'firmware-state',
    ...(state?.kind === 'known' ? { state: state.code } : {}),
    ...(result?.kind === 'known' ? { result: result.code } : {}),
  };
}
