import { type Kysely, sql } from 'kysely';
import type { Lwm2mLogger } from '../lwm2m/lwm2m-server.js';
import { type DeviceOwnership, ownedOrOrphaned } from '../replicas/device-ownership.js';
import { isDataError, sqlState } from '../store/errors.js';
import type { Database, NewEvent, RegistrationState } from '../store/schema.js';
import { batchWriteStatement, type VersionCheck } from './batch-statement.js';
import type { DeviceChange, DeviceChangeKind } from './device-change.js';
import { type DevicePatch, mergePatches } from './device-patch.js';

/** Ends a registration, but only while it is still the one stored (a newer Register wins). */
export interface RegistrationEnd {
  readonly registrationId: string;
  readonly state: Exclude<RegistrationState, 'registered'>;
}

/** One change to one device: columns, a registration end, events, and why (for `onCommitted`). */
export interface DeviceWrite {
  readonly endpoint: string;
  readonly patch?: DevicePatch;
  readonly end?: RegistrationEnd;
  readonly events?: readonly NewEvent[];
  /** Compare `patch.firmware_version` with the stored one and append FirmwareVersionChanged if it moved. */
  readonly checkVersion?: boolean;
  readonly change?: DeviceChange;
}

export interface WriteQueueOptions {
  readonly maxBatch: number;
  /**
   * Batches being written at once (default 2): the next one is sent while the previous one waits for
   * its commit to be flushed to disk. Batches in flight together never share an endpoint.
   */
  readonly maxConcurrentBatches?: number;
  readonly clock: () => number;
  readonly logger: Lwm2mLogger;
  /** Called once per change after the transaction holding it committed. */
  readonly onCommitted: (endpoint: string, change: DeviceChange) => void;
  /** Called once per change of an entry the database refused and the queue dropped. */
  readonly onRejected?: (endpoint: string, change: DeviceChange) => void;
  /** Events kept per endpoint while the database is failing; older ones are dropped. Default 100. */
  readonly maxEventsPerDevice?: number;
  /**
   * With several replicas: an expiry (this replica stopped hearing the device) ends the
   * registration only when no other live replica owns it (the device may have moved to another).
   */
  readonly ownership?: DeviceOwnership;
}

/** What the `enqueueAndWait` calls of one entry wait for, all together. */
interface Settlement {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

function settlement(): Settlement {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Both settle with `kept` (entries merged: one write commits or drops them both). */
function joinSettlements(
  kept: Settlement | undefined,
  other: Settlement | undefined,
): Settlement | undefined {
  if (kept === undefined) return other;
  if (other !== undefined) kept.promise.then(other.resolve, other.reject);
  return kept;
}

/**
 * Reports of values a device holds, not of its registration: the patch keeps only the latest value of
 * each column, so one change of each kind says what is stored. Registration changes are each told:
 * they are counted (registrations waiting for their commit, the registrations metric).
 */
const LATEST_ONLY: ReadonlySet<DeviceChangeKind> = new Set<DeviceChangeKind>([
  'info',
  'firmware-state',
  'firmware-version',
  'error-code',
]);

/**
 * Adds `change` to the changes of one entry: a report replaces the one of its kind queued before it
 * (State and Result merge, as their columns do), so a device reporting while the database is down
 * costs one change per kind however often it reports.
 */
function addChange(changes: DeviceChange[], change: DeviceChange): void {
  if (!LATEST_ONLY.has(change.kind)) {
    changes.push(change);
    return;
  }
  const i = changes.findIndex((c) => c.kind === change.kind);
  if (i < 0) {
    changes.push(change);
    return;
  }
  const older = changes.splice(i, 1)[0]!;
  changes.push(
    older.kind === 'firmware-state' && change.kind === 'firmware-state' ? { ...older, ...change } : change,
  );
}

/** Everything queued for one endpoint, merged in arrival order. */
interface Entry {
  /** Registration ends that came before any queued patch of the same registration. */
  ends: RegistrationEnd[];
  patch: DevicePatch | undefined;
  checkVersion: boolean;
  events: NewEvent[];
  /** At most one of each LATEST_ONLY kind. */
  changes: DeviceChange[];
  settlement: Settlement | undefined;
}

/** What the queue has written since it started, for benches and metrics. */
export interface WriteStats {
  /** Batches committed: each one statement, or a transaction when it also ends registrations. */
  batches: number;
  transactions: number;
  statements: number;
  /** Device entries written (one per endpoint per batch). */
  devices: number;
  /** Milliseconds from sending a batch to its commit, summed over batches. */
  writeMs: number;
  /** Device entries dropped because the database refused their data (see `DeviceWriteRejected`). */
  quarantined: number;
  /** Clock time of the first failure (other than refused data) since the last commit; else undefined. */
  failingSince: number | undefined;
}

/** Writes failing this long (the database down, not a refused row) make the controller not ready. */
export const WRITES_FAILING_AFTER_MS = 30_000;

/** Whether writes have been failing for at least WRITES_FAILING_AFTER_MS at `now`. */
export function writesFailing(stats: Readonly<WriteStats>, now: number): boolean {
  return stats.failingSince !== undefined && now - stats.failingSince >= WRITES_FAILING_AFTER_MS;
}

const MAX_BACKOFF_MS = 10_000;

function emptyEntry(): Entry {
  return { ends: [], patch: undefined, checkVersion: false, events: [], changes: [], settlement: undefined };
}

function applyEnd(entry: Entry, endpoint: string, end: RegistrationEnd, now: Date): void {
  if (entry.patch?.registration_id === end.registrationId) {
    entry.patch = mergePatches(entry.patch, { endpoint, registration_state: end.state, updated_at: now });
  } else entry.ends.push(end);
}

/**
 * Coalesces device writes with group commit: a batch is sent as soon as a write slot is free (at
 * once when the queue was idle), so under load batches grow by themselves and at rest a write waits
 * for nothing but its own commit. A batch is one statement (every upsert and the events, version
 * checks included) unless it also ends registrations; then the ends run before it in a transaction.
 * Writes for one endpoint merge in arrival order, and an endpoint is in at most one batch in flight;
 * a failed batch is put back under newer writes and retried with backoff. A batch the database
 * refuses for its data is split in halves, written at once, down to the entries it refuses: those
 * are dropped (quarantined) so one bad value never holds up the other devices. While the database
 * is down an endpoint's entry stays bounded however often its device reports: the patch keeps the
 * latest value of each column, the changes the latest report of each kind, the events the newest
 * `maxEventsPerDevice`, and its waiting callers share one promise per batch attempt.
 */
export class DeviceWriteQueue {
  readonly #db: Kysely<Database>;
  readonly #o: WriteQueueOptions;
  #pending = new Map<string, Entry>();
  /** The scheduled next flush: setImmediate normally, a backoff timer after a failure. */
  #timer: { cancel(): void } | undefined;
  readonly #flushing = new Set<Promise<boolean>>();
  /** Endpoints in a batch being written: their newer writes wait for it. */
  readonly #inFlight = new Set<string>();
  /** Everything pending belongs to endpoints in flight: nothing to send until a batch ends. */
  #blocked = false;
  #backoffMs = 0;
  #closed = false;

  constructor(db: Kysely<Database>, options: WriteQueueOptions) {
    this.#db = db;
    this.#o = options;
  }

  readonly stats: WriteStats = {
    batches: 0,
    transactions: 0,
    statements: 0,
    devices: 0,
    writeMs: 0,
    quarantined: 0,
    failingSince: undefined,
  };

  /** Endpoints with writes not yet committed. */
  get pending(): number {
    return this.#pending.size;
  }

  enqueue(write: DeviceWrite): void {
    this.#add(write);
  }

  /**
   * Resolves once the write committed (rejects only if it is dropped at close). The writes queued
   * together for one endpoint share one promise.
   */
  enqueueAndWait(write: DeviceWrite): Promise<void> {
    const entry = this.#add(write);
    entry.settlement ??= settlement();
    return entry.settlement.promise;
  }

  /** Writes everything queued now; resolves when that committed or the attempt failed. */
  async flush(): Promise<boolean> {
    while (this.#flushing.size > 0) await Promise.all(this.#flushing);
    if (this.#pending.size === 0) return true;
    this.#cancelTimer();
    return this.#runFlush();
  }

  /** Flushes what is queued (a few attempts); what still fails is dropped with an error log. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelTimer();
    for (let attempt = 0; attempt < 5 && this.#pending.size > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 2000)));
      while (this.#pending.size > 0 && (await this.flush())) {}
    }
    if (this.#pending.size === 0) return;
    this.#o.logger.error({ devices: this.#pending.size }, 'device writes dropped at shutdown');
    const error = new Error('device sync stopped before the write committed');
    for (const entry of this.#pending.values()) entry.settlement?.reject(error);
    this.#pending.clear();
  }

  #add(write: DeviceWrite): Entry {
    let entry = this.#pending.get(write.endpoint);
    if (entry === undefined) {
      entry = emptyEntry();
      this.#pending.set(write.endpoint, entry);
    }
    const now = new Date(this.#o.clock());
    if (write.end !== undefined) applyEnd(entry, write.endpoint, write.end, now);
    if (write.patch !== undefined) entry.patch = mergePatches(entry.patch, write.patch);
    if (write.checkVersion) entry.checkVersion = true;
    if (write.events !== undefined) this.#addEvents(entry, write.endpoint, write.events);
    if (write.change !== undefined) addChange(entry.changes, write.change);
    if (!this.#closed) this.#schedule();
    return entry;
  }

  #addEvents(entry: Entry, endpoint: string, events: readonly NewEvent[]): void {
    entry.events.push(...events);
    const max = this.#o.maxEventsPerDevice ?? 100;
    if (entry.events.length > max) {
      const dropped = entry.events.splice(0, entry.events.length - max);
      this.#o.logger.warn({ endpoint, dropped: dropped.length }, 'device events dropped while writes fail');
    }
  }

  /**
   * Group commit: a batch starts as soon as a write slot is free (the requests that arrived in the
   * same turn of the event loop join it through setImmediate); only a failing database waits.
   */
  #schedule(): void {
    if (this.#timer !== undefined || this.#blocked || this.#pending.size === 0) return;
    if (this.#flushing.size >= (this.#o.maxConcurrentBatches ?? 2)) return;
    const run = () => {
      this.#timer = undefined;
      void this.#runFlush();
    };
    if (this.#backoffMs > 0) {
      const timer = setTimeout(run, this.#backoffMs);
      timer.unref();
      this.#timer = { cancel: () => clearTimeout(timer) };
    } else {
      const immediate = setImmediate(run);
      this.#timer = { cancel: () => clearImmediate(immediate) };
    }
  }

  #cancelTimer(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #runFlush(): Promise<boolean> {
    const batch = this.#take(this.#o.maxBatch);
    if (batch.size === 0) {
      this.#blocked = this.#pending.size > 0;
      return Promise.resolve(true);
    }
    for (const endpoint of batch.keys()) this.#inFlight.add(endpoint);
    const run = this.#flushOnce(batch).finally(() => {
      this.#flushing.delete(run);
      for (const endpoint of batch.keys()) this.#inFlight.delete(endpoint);
      this.#blocked = false;
      if (!this.#closed) this.#schedule();
    });
    this.#flushing.add(run);
    // Another slot may be free for what is left.
    if (!this.#closed) this.#schedule();
    return run;
  }

  async #flushOnce(batch: Map<string, Entry>): Promise<boolean> {
    const failed = await this.#writeIsolating(batch);
    if (failed !== undefined) {
      this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 100), MAX_BACKOFF_MS);
      this.stats.failingSince ??= this.#o.clock();
      this.#o.logger.error(
        { err: failed.error, devices: failed.rest.size, retryInMs: this.#backoffMs },
        'writing device changes failed; will retry',
      );
      this.#putBack(failed.rest);
      return false;
    }
    this.#backoffMs = 0;
    return true;
  }

  /**
   * Writes `batch`; when the database refuses its data, writes each half at once, down to the
   * single entries it refuses, which are quarantined. Returns what is left unwritten after any other
   * failure (everything not yet committed, to be retried with backoff).
   */
  async #writeIsolating(
    batch: Map<string, Entry>,
  ): Promise<{ readonly rest: Map<string, Entry>; readonly error: unknown } | undefined> {
    const error = await this.#tryWrite(batch);
    if (error === undefined) return undefined;
    if (!isDataError(error)) return { rest: batch, error };
    if (batch.size === 1) {
      for (const [endpoint, entry] of batch) await this.#quarantine(endpoint, entry, error);
      return undefined;
    }
    const entries = [...batch];
    const half = Math.ceil(entries.length / 2);
    const first = new Map(entries.slice(0, half));
    const second = new Map(entries.slice(half));
    const failed = await this.#writeIsolating(first);
    if (failed !== undefined) return { rest: new Map([...failed.rest, ...second]), error: failed.error };
    return this.#writeIsolating(second);
  }

  /** Writes one batch; on commit tells `onCommitted` and the waiters. Returns the error otherwise. */
  async #tryWrite(batch: Map<string, Entry>): Promise<unknown> {
    const started = performance.now();
    try {
      await this.#write(batch);
    } catch (err) {
      return err ?? new Error('device write failed');
    }
    this.stats.writeMs += performance.now() - started;
    this.stats.failingSince = undefined;
    for (const [endpoint, entry] of batch) {
      for (const change of entry.changes) {
        try {
          this.#o.onCommitted(endpoint, change);
        } catch (err) {
          this.#o.logger.error({ err, endpoint }, 'onDeviceChanged threw');
        }
      }
      entry.settlement?.resolve();
    }
    return undefined;
  }

  /**
   * Drops an entry the database refuses on its own (retrying it would fail the same way forever):
   * its waiters learn why, and a DeviceWriteRejected event records it, written on its own.
   */
  async #quarantine(endpoint: string, entry: Entry, error: unknown): Promise<void> {
    this.stats.quarantined++;
    const code = sqlState(error);
    const reason = error instanceof Error ? error.message : String(error);
    const columns = entry.patch === undefined ? [] : Object.keys(entry.patch).sort();
    this.#o.logger.error(
      { err: error, endpoint, sqlState: code, columns, events: entry.events.length },
      'the database refused a device write; dropped it',
    );
    const rejected = new Error(`the database refused this device's write: ${reason}`);
    entry.settlement?.reject(rejected);
    for (const change of entry.changes) {
      try {
        this.#o.onRejected?.(endpoint, change);
      } catch (err) {
        this.#o.logger.error({ err, endpoint }, 'onRejected threw');
      }
    }
    try {
      await this.#db
        .insertInto('events')
        .values({
          endpoint: storableText(endpoint),
          type: 'DeviceWriteRejected',
          message: storableText(`the database refused a write of this device, dropped: ${reason}`),
          details: JSON.stringify({
            sqlState: code ?? null,
            error: storableText(reason),
            columns,
            events: entry.events.map((e) => storableText(e.type)),
          }),
          rollout: null,
          update_id: null,
          git_revision: null,
        })
        .execute();
    } catch (err) {
      this.#o.logger.error({ err, endpoint }, 'recording a rejected device write failed');
    }
  }

  /** Up to `max` pending endpoints, oldest first, leaving those with a batch in flight. */
  #take(max: number): Map<string, Entry> {
    if (this.#pending.size <= max && this.#inFlight.size === 0) {
      const all = this.#pending;
      this.#pending = new Map();
      return all;
    }
    const batch = new Map<string, Entry>();
    for (const [endpoint, entry] of this.#pending) {
      if (batch.size >= max) break;
      if (!this.#inFlight.has(endpoint)) batch.set(endpoint, entry);
    }
    for (const endpoint of batch.keys()) this.#pending.delete(endpoint);
    return batch;
  }

  /** A failed batch goes back in front; writes queued meanwhile are newer and merge on top. */
  #putBack(batch: Map<string, Entry>): void {
    const newer = this.#pending;
    this.#pending = batch;
    const now = new Date(this.#o.clock());
    for (const [endpoint, later] of newer) {
      const entry = this.#pending.get(endpoint);
      if (entry === undefined) {
        this.#pending.set(endpoint, later);
        continue;
      }
      for (const end of later.ends) applyEnd(entry, endpoint, end, now);
      if (later.patch !== undefined) entry.patch = mergePatches(entry.patch, later.patch);
      entry.checkVersion ||= later.checkVersion;
      this.#addEvents(entry, endpoint, later.events);
      for (const change of later.changes) addChange(entry.changes, change);
      entry.settlement = joinSettlements(entry.settlement, later.settlement);
    }
  }

  async #write(batch: Map<string, Entry>): Promise<void> {
    const now = new Date(this.#o.clock());
    const patches: DevicePatch[] = [];
    const events: NewEvent[] = [];
    const versionChecks: VersionCheck[] = [];
    const ends = new Map<RegistrationEnd['state'], string[]>();
    for (const [endpoint, entry] of batch) {
      const { patch } = entry;
      if (patch !== undefined) {
        patches.push(patch);
        const version = patch.firmware_version;
        if (entry.checkVersion && version !== undefined && version !== null)
          versionChecks.push({ endpoint, version });
      }
      for (const event of entry.events) events.push(event);
      for (const end of entry.ends) {
        const ids = ends.get(end.state);
        if (ids === undefined) ends.set(end.state, [end.registrationId]);
        else ids.push(end.registrationId);
      }
    }
    const statement = batchWriteStatement(patches, events, versionChecks, now);
    if (ends.size === 0) {
      // The common batch: one statement, atomic without BEGIN/COMMIT.
      if (statement !== undefined) await this.#db.executeQuery(statement);
      this.#counted(batch, statement === undefined ? 0 : 1, false);
      return;
    }
    // An end may touch a row a patch of the same batch touches too: it runs first, in one transaction.
    await this.#db.transaction().execute(async (trx) => {
      const ownership = this.#o.ownership;
      for (const [state, ids] of ends) {
        await trx
          .updateTable('devices')
          .set({ registration_state: state, updated_at: now })
          .where('registration_id', 'in', ids)
          .$if(state === 'expired' && ownership !== undefined, (qb) =>
            qb.where(ownedOrOrphaned(sql.ref('owner_replica'), ownership!)),
          )
          .execute();
      }
      if (statement !== undefined) await trx.executeQuery(statement);
    });
    this.#counted(batch, ends.size + (statement === undefined ? 0 : 1), true);
  }

  #counted(batch: Map<string, Entry>, statements: number, transaction: boolean): void {
    this.stats.batches++;
    if (transaction) this.stats.transactions++;
    this.stats.statements += statements;
    this.stats.devices += batch.size;
  }
}

/** Text Postgres stores: without NUL (which Postgres text refuses) or lone surrogates. */
function storableText(text: string): string {
  return text.replace(/\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\uFFFD');
}
