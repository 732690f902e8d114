import { type Kysely, sql } from 'kysely';
import type { Lwm2mLogger } from '../lwm2m/lwm2m-server.js';
import type { Database, NewEvent, RegistrationState } from '../store/schema.js';
import type { DeviceChange } from './device-change.js';
import { type DevicePatch, mergePatches, patchShape } from './device-patch.js';

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
  readonly flushIntervalMs: number;
  readonly maxBatch: number;
  readonly clock: () => number;
  readonly logger: Lwm2mLogger;
  /** Called once per change after the transaction holding it committed. */
  readonly onCommitted: (endpoint: string, change: DeviceChange) => void;
  /** Events kept per endpoint while the database is failing; older ones are dropped. Default 100. */
  readonly maxEventsPerDevice?: number;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Everything queued for one endpoint, merged in arrival order. */
interface Entry {
  /** Registration ends that came before any queued patch of the same registration. */
  ends: RegistrationEnd[];
  patch: DevicePatch | undefined;
  checkVersion: boolean;
  events: NewEvent[];
  changes: DeviceChange[];
  waiters: Waiter[];
}

const MAX_BACKOFF_MS = 10_000;
const EVENT_CHUNK = 2000;

function emptyEntry(): Entry {
  return { ends: [], patch: undefined, checkVersion: false, events: [], changes: [], waiters: [] };
}

function applyEnd(entry: Entry, endpoint: string, end: RegistrationEnd, now: Date): void {
  if (entry.patch?.registration_id === end.registrationId) {
    entry.patch = mergePatches(entry.patch, { endpoint, registration_state: end.state, updated_at: now });
  } else entry.ends.push(end);
}

/**
 * Coalesces device writes: one transaction per batch holding multi-row upserts (one statement per
 * patch shape), the registration ends and the events. Writes for one endpoint merge in arrival order;
 * a failed batch is put back under newer writes and retried with backoff.
 */
export class DeviceWriteQueue {
  readonly #db: Kysely<Database>;
  readonly #o: WriteQueueOptions;
  #pending = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<boolean> | undefined;
  #backoffMs = 0;
  #closed = false;

  constructor(db: Kysely<Database>, options: WriteQueueOptions) {
    this.#db = db;
    this.#o = options;
  }

  /** Endpoints with writes not yet committed. */
  get pending(): number {
    return this.#pending.size;
  }

  enqueue(write: DeviceWrite): void {
    this.#add(write, undefined);
  }

  /** Resolves once the write committed (rejects only if it is dropped at close). */
  enqueueAndWait(write: DeviceWrite): Promise<void> {
    return new Promise((resolve, reject) => this.#add(write, { resolve, reject }));
  }

  /** Writes everything queued now; resolves when that committed or the attempt failed. */
  async flush(): Promise<boolean> {
    while (this.#flushing !== undefined) await this.#flushing;
    if (this.#pending.size === 0) return true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    return this.#runFlush();
  }

  /** Flushes what is queued (a few attempts); what still fails is dropped with an error log. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (let attempt = 0; attempt < 5 && this.#pending.size > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 2000)));
      while (this.#pending.size > 0 && (await this.flush())) {}
    }
    if (this.#pending.size === 0) return;
    this.#o.logger.error({ devices: this.#pending.size }, 'device writes dropped at shutdown');
    const error = new Error('device sync stopped before the write committed');
    for (const entry of this.#pending.values()) for (const w of entry.waiters) w.reject(error);
    this.#pending.clear();
  }

  #add(write: DeviceWrite, waiter: Waiter | undefined): void {
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
    if (write.change !== undefined) entry.changes.push(write.change);
    if (waiter !== undefined) entry.waiters.push(waiter);
    if (!this.#closed) this.#schedule();
  }

  #addEvents(entry: Entry, endpoint: string, events: readonly NewEvent[]): void {
    entry.events.push(...events);
    const max = this.#o.maxEventsPerDevice ?? 100;
    if (entry.events.length > max) {
      const dropped = entry.events.splice(0, entry.events.length - max);
      this.#o.logger.warn({ endpoint, dropped: dropped.length }, 'device events dropped while writes fail');
    }
  }

  #schedule(): void {
    if (this.#flushing !== undefined || this.#timer !== undefined || this.#pending.size === 0) return;
    const delay =
      this.#backoffMs > 0
        ? this.#backoffMs
        : this.#pending.size >= this.#o.maxBatch
          ? 0
          : this.#o.flushIntervalMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#runFlush();
    }, delay);
    this.#timer.unref();
  }

  #runFlush(): Promise<boolean> {
    const run = this.#flushOnce().finally(() => {
      this.#flushing = undefined;
      if (!this.#closed) this.#schedule();
    });
    this.#flushing = run;
    return run;
  }

  async #flushOnce(): Promise<boolean> {
    const batch = this.#take(this.#o.maxBatch);
    if (batch.size === 0) return true;
    try {
      await this.#write(batch);
    } catch (err) {
      this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 100), MAX_BACKOFF_MS);
      this.#o.logger.error(
        { err, devices: batch.size, retryInMs: this.#backoffMs },
        'writing device changes failed; will retry',
      );
      this.#putBack(batch);
      return false;
    }
    this.#backoffMs = 0;
    for (const [endpoint, entry] of batch) {
      for (const change of entry.changes) {
        try {
          this.#o.onCommitted(endpoint, change);
        } catch (err) {
          this.#o.logger.error({ err, endpoint }, 'onDeviceChanged threw');
        }
      }
      for (const w of entry.waiters) w.resolve();
    }
    return true;
  }

  #take(max: number): Map<string, Entry> {
    if (this.#pending.size <= max) {
      const all = this.#pending;
      this.#pending = new Map();
      return all;
    }
    const batch = new Map<string, Entry>();
    for (const [endpoint, entry] of this.#pending) {
      if (batch.size >= max) break;
      batch.set(endpoint, entry);
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
      entry.changes.push(...later.changes);
      entry.waiters.push(...later.waiters);
    }
  }

  async #write(batch: Map<string, Entry>): Promise<void> {
    const now = new Date(this.#o.clock());
    await this.#db.transaction().execute(async (trx) => {
      await writeEnds(trx, batch, now);
      const versionEvents = await firmwareVersionEvents(trx, batch, now);
      await writePatches(trx, batch);
      const events: NewEvent[] = [];
      for (const [endpoint, entry] of batch) {
        events.push(...entry.events);
        const moved = versionEvents.get(endpoint);
        if (moved !== undefined) events.push(moved);
      }
      for (let i = 0; i < events.length; i += EVENT_CHUNK) {
        await trx
          .insertInto('events')
          .values(events.slice(i, i + EVENT_CHUNK))
          .execute();
      }
    });
  }
}

type Tx = Kysely<Database>;

async function writeEnds(trx: Tx, batch: Map<string, Entry>, now: Date): Promise<void> {
  const byState = new Map<RegistrationEnd['state'], string[]>();
  for (const entry of batch.values()) {
    for (const end of entry.ends) {
      const ids = byState.get(end.state) ?? [];
      ids.push(end.registrationId);
      byState.set(end.state, ids);
    }
  }
  for (const [state, ids] of byState) {
    await trx
      .updateTable('devices')
      .set({ registration_state: state, updated_at: now })
      .where('registration_id', 'in', ids)
      .execute();
  }
}

/** FirmwareVersionChanged events for patches whose firmware_version differs from the stored one. */
async function firmwareVersionEvents(
  trx: Tx,
  batch: Map<string, Entry>,
  now: Date,
): Promise<Map<string, NewEvent>> {
  const checked = [...batch].filter(
    ([, e]) => e.checkVersion && e.patch?.firmware_version !== undefined && e.patch.firmware_version !== null,
  );
  const out = new Map<string, NewEvent>();
  if (checked.length === 0) return out;
  const rows = await trx
    .selectFrom('devices')
    .select(['endpoint', 'firmware_version'])
    .where(
      'endpoint',
      'in',
      checked.map(([endpoint]) => endpoint),
    )
    .execute();
  const stored = new Map(rows.map((r) => [r.endpoint, r.firmware_version]));
  for (const [endpoint, entry] of checked) {
    const from = stored.get(endpoint);
    const to = entry.patch?.firmware_version;
    if (from === undefined || from === null || to === undefined || to === null || from === to) continue;
    out.set(endpoint, {
      at: now,
      endpoint,
      type: 'FirmwareVersionChanged',
      message: `firmware version changed from ${from} to ${to}`,
      details: JSON.stringify({ from, to }),
    });
  }
  return out;
}

async function writePatches(trx: Tx, batch: Map<string, Entry>): Promise<void> {
  const byShape = new Map<string, DevicePatch[]>();
  for (const entry of batch.values()) {
    if (entry.patch === undefined) continue;
    const shape = patchShape(entry.patch);
    const rows = byShape.get(shape) ?? [];
    rows.push(entry.patch);
    byShape.set(shape, rows);
  }
  for (const [shape, rows] of byShape) {
    const columns = shape.split(',').filter((c) => c !== 'endpoint');
    const set = Object.fromEntries(columns.map((c) => [c, sql.ref(`excluded.${c}`)]));
    await trx
      .insertInto('devices')
      .values(rows)
      // biome-ignore lint/suspicious/noExplicitAny: the column set is only known at run time
      .onConflict((oc) => oc.column('endpoint').doUpdateSet(set as any))
      .execute();
  }
}
