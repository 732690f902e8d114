import type { Kysely } from 'kysely';
import {
  type Failure,
  type Lwm2mLogger,
  type Lwm2mServer,
  nestedGate,
  type RegistrationChange,
  type RequestGate,
} from '../lwm2m/index.js';
import type { DeviceOwnership } from '../replicas/device-ownership.js';
import type { Database } from '../store/schema.js';
import type { DeviceChange } from './device-change.js';
import { ERROR_CODE_PATH, ErrorCodeFollower } from './error-code-follower.js';
import { eventLoopSaturation } from './event-loop-load.js';
import { firmwareChange, firmwarePatch, isFirmwareObservation, readCode } from './firmware-report.js';
import {
  type ErrorCodeRead,
  type FirmwareStateRead,
  type FirmwareVersionRead,
  readErrorCode,
  readFirmwareState,
  readFirmwareVersion,
} from './interrogate.js';
import { InterrogationScheduler } from './interrogation-scheduler.js';
import { Interrogator } from './interrogator.js';
import { Limiter } from './limiter.js';
import { RegistrationMirror } from './registration-mirror.js';
import { ReportWarnings } from './report-warnings.js';
import { SyncContext } from './sync-context.js';
import { DeviceWriteQueue, type WriteStats } from './write-queue.js';

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
  /**
   * This replica among several (issue 20): every Register and Update it receives records it as the
   * device's owner, and it expires only registrations no other live replica owns.
   */
  readonly ownership?: DeviceOwnership;
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

/**
 * The reads asked for on request take a slot of the shared read limit only while their request is
 * not waiting for a sleeping queue-mode device; `gate`: the caller's own (its slot, its checks),
 * which the request goes through as well (see RequestGate).
 */
export interface DeviceSync {
  /**
   * Resolves once start-up work is done: stored registrations that ended while no controller ran are
   * marked expired, and devices restored into the server before start are observed (and read) again.
   */
  readonly resumed: Promise<void>;
  /** Reads 5/0/3 and 5/0/5 now and stores them; resolves after the write committed. */
  readFirmwareState(endpoint: string, gate?: RequestGate): Promise<FirmwareStateRead>;
  /** Reads 3/0/3 now and stores it (with info_read_at); resolves after the write committed. */
  readFirmwareVersion(endpoint: string, gate?: RequestGate): Promise<FirmwareVersionRead>;
  /** Reads 3/0/11 now and stores it (with error_code_read_at); resolves after the write committed. */
  readErrorCode(endpoint: string, gate?: RequestGate): Promise<ErrorCodeRead>;
  /**
   * Observes 3/0/11 (a device that refuses is read) and stores the answer as `readErrorCode` does,
   * and every notification after it; resolves after the answer's write committed.
   */
  followErrorCode(endpoint: string, gate?: RequestGate): Promise<ErrorCodeRead>;
  /** Writes what is queued now. */
  flush(): Promise<void>;
  stats(): DeviceSyncStats;
  /** For Lwm2mServer's `beforeAnswer`: resolves once the Register/Update row is committed. */
  persistBeforeAnswer(change: RegistrationChange): Promise<void>;
  /** Stops listening, drops observations, writes what is queued. */
  stop(): Promise<void>;
}

const silentLogger: Lwm2mLogger = { debug() {}, warn() {}, error() {} };
const stoppedFailure: Failure = { kind: 'unreachable', reason: 'device sync stopped' };

/** Mirrors the LwM2M server's registrations and firmware reports into the `devices` table. */
export function startDeviceSync(opts: DeviceSyncOptions): DeviceSync {
  return new DeviceSyncImpl(opts);
}

/**
 * Composes the registration mirror and the interrogation scheduler over one write queue and one
 * read limiter, and answers the reads asked for by the reconciler.
 */
class DeviceSyncImpl implements DeviceSync {
  readonly resumed: Promise<void>;
  readonly #ctx: SyncContext;
  readonly #writes: DeviceWriteQueue;
  readonly #reads: Limiter;
  readonly #mirror: RegistrationMirror;
  readonly #scheduler: InterrogationScheduler;
  readonly #errorCodes: ErrorCodeFollower;

  constructor(opts: DeviceSyncOptions) {
    const clock = opts.clock ?? Date.now;
    const log = opts.logger ?? silentLogger;
    const stormBacklog = opts.stormBacklog ?? 32;
    const saturated = eventLoopSaturation();
    this.#reads = new Limiter({
      max: opts.maxConcurrentReads ?? 256,
      ...(opts.onReadEnded === undefined ? {} : { onFinished: opts.onReadEnded }),
      maxProbes: opts.maxConcurrentProbes ?? 4096,
      backgroundWhileBusy: opts.interrogationsWhileBusy ?? 2,
      // A storm: many registrations wait for their commit (the database is what they wait for, so
      // the event loop need not look busy), or some do and the CPU has no room for anything else.
      busy: () => this.#mirror.uncommitted >= stormBacklog || (this.#mirror.uncommitted > 0 && saturated()),
    });
    const onChanged = opts.onDeviceChanged ?? (() => {});
    this.#writes = new DeviceWriteQueue(opts.db, {
      maxBatch: opts.maxBatch ?? 500,
      maxConcurrentBatches: opts.concurrentWrites ?? 2,
      clock,
      logger: log,
      onCommitted: (endpoint, why) => {
        this.#mirror.settled(why);
        onChanged(endpoint, why);
      },
      // A refused registration write will never commit: stop counting it as a storm backlog.
      onRejected: (_endpoint, why) => this.#mirror.settled(why),
      ...(opts.ownership ? { ownership: opts.ownership } : {}),
    });
    this.#ctx = new SyncContext(
      opts.server,
      clock,
      log,
      this.#writes,
      new ReportWarnings(log),
      opts.ownership,
    );
    this.#scheduler = new InterrogationScheduler(this.#ctx, this.#reads, new Interrogator(this.#ctx), {
      probeTimeoutMs: opts.probeTimeoutMs ?? 2000,
      silenceBackoffMs: opts.silenceBackoffMs ?? 60_000,
      maxSilenceBackoffMs: opts.maxSilenceBackoffMs ?? 3_600_000,
      backoffSweepMs: opts.backoffSweepMs ?? 5000,
    });
    this.#mirror = new RegistrationMirror(this.#ctx, this.#scheduler);
    this.#errorCodes = new ErrorCodeFollower(this.#ctx);
    this.resumed = this.#mirror.resume(opts.db, onChanged).catch((err) => {
      log.error({ err }, 'resuming restored devices failed');
    });
  }

  async readFirmwareState(endpoint: string, gate?: RequestGate): Promise<FirmwareStateRead> {
    const ctx = this.#ctx;
    if (ctx.stopped) return stoppedFailure;
    const read = await this.#reads.run((slot) =>
      readFirmwareState(ctx.server.device(endpoint, nestedGate(gate, slot)), ctx.clock),
    );
    if (read.kind !== 'ok' || ctx.stopped) return read;
    const state = readCode(read.state, read.unknown?.state);
    const result = readCode(read.result, read.unknown?.result);
    ctx.warnings.unknownCodes(endpoint, state, result);
    await this.#writes.enqueueAndWait({
      endpoint,
      patch: firmwarePatch(endpoint, state, result, read.reportedAt),
      change: firmwareChange(state, result),
    });
    return read;
  }

  async readFirmwareVersion(endpoint: string, gate?: RequestGate): Promise<FirmwareVersionRead> {
    const ctx = this.#ctx;
    if (ctx.stopped) return stoppedFailure;
    const read = await this.#reads.run((slot) =>
      readFirmwareVersion(ctx.server.device(endpoint, nestedGate(gate, slot)), ctx.clock),
    );
    if (read.kind !== 'ok' || ctx.stopped) return read;
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

  async readErrorCode(endpoint: string, gate?: RequestGate): Promise<ErrorCodeRead> {
    const ctx = this.#ctx;
    if (ctx.stopped) return stoppedFailure;
    const read = await this.#reads.run((slot) =>
      readErrorCode(ctx.server.device(endpoint, nestedGate(gate, slot)), ctx.clock),
    );
    if (read.kind !== 'ok' || ctx.stopped) return read;
    await this.#writes.enqueueAndWait({
      endpoint,
      patch: {
        endpoint,
        error_code: read.errorCode,
        error_code_read_at: new Date(read.readAt),
        updated_at: new Date(read.readAt),
      },
      change: { kind: 'error-code', errorCode: read.errorCode },
    });
    return read;
  }

  async followErrorCode(endpoint: string, gate?: RequestGate): Promise<ErrorCodeRead> {
    if (this.#ctx.stopped) return stoppedFailure;
    return this.#reads.run((slot) => this.#errorCodes.follow(endpoint, nestedGate(gate, slot)));
  }

  async flush(): Promise<void> {
    while (this.#writes.pending > 0) if (!(await this.#writes.flush())) return;
  }

  stats(): DeviceSyncStats {
    return {
      writes: this.#writes.stats,
      registrationsUncommitted: this.#mirror.uncommitted,
      interrogations: {
        running: this.#reads.runningBackground + this.#reads.runningProbes,
        waiting: this.#reads.waiting + this.#reads.waitingProbes,
        probesRunning: this.#reads.runningProbes,
        probesWaiting: this.#reads.waitingProbes,
        backedOff: this.#scheduler.backedOff,
      },
    };
  }

  persistBeforeAnswer(change: RegistrationChange): Promise<void> {
    return this.#mirror.persistBeforeAnswer(change);
  }

  async stop(): Promise<void> {
    if (this.#ctx.stopped) return;
    this.#ctx.stopped = true;
    this.#scheduler.stop();
    this.#mirror.stop();
    // Passive: telling 100k devices at shutdown would be a storm; each RSTs its next notification.
    await this.#ctx.server.observations.cancelAll(
      (obs) => isFirmwareObservation(obs.path) || obs.path === ERROR_CODE_PATH,
    );
    await this.#writes.close();
  }
}
