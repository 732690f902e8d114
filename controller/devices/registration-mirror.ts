import { type Kysely, sql } from 'kysely';
import type {
  RegisteredEvent,
  Registration,
  RegistrationChange,
  RegistrationEndedEvent,
  RegistrationRefusedEvent,
  UpdatedEvent,
} from '../lwm2m/index.js';
import type { Database } from '../store/schema.js';
import type { DeviceChange } from './device-change.js';
import { expireStaleRegistrations } from './expire-stale.js';
import { FIRMWARE_INSTANCE, FIRMWARE_PATHS, hasFirmwareObject } from './firmware-report.js';
import type { InterrogationScheduler } from './interrogation-scheduler.js';
import {
  deregisteredEvent,
  expiredEvent,
  registeredEvent,
  registrationRefusedEvent,
  registrationUpdatedEvent,
} from './registration-events.js';
import { registrationPatch } from './registration-row.js';
import type { SyncContext } from './sync-context.js';
import type { DeviceWrite } from './write-queue.js';

/**
 * Mirrors the server's registrations into the `devices` table (Register, Update, De-register,
 * expiry, and those that ended while no controller ran), and asks for the interrogations they call for.
 */
export class RegistrationMirror {
  readonly #ctx: SyncContext;
  readonly #scheduler: InterrogationScheduler;
  /** Register and Update rows queued and not yet committed. */
  #uncommitted = 0;
  /**
   * Registers and Updates whose row `persistBeforeAnswer` already queued, cleared by their event:
   * the server hands both the same Registration object, a new one for every Register and Update.
   */
  readonly #prewritten = new WeakSet<Registration>();
  readonly #listeners: {
    registered: (e: RegisteredEvent) => void;
    updated: (e: UpdatedEvent) => void;
    deregistered: (e: RegistrationEndedEvent) => void;
    expired: (e: RegistrationEndedEvent) => void;
    refused: (e: RegistrationRefusedEvent) => void;
  };

  constructor(ctx: SyncContext, scheduler: InterrogationScheduler) {
    this.#ctx = ctx;
    this.#scheduler = scheduler;
    this.#listeners = {
      registered: (e) => ctx.guard('registered', () => this.#onRegistered(e.registration, e.previous)),
      updated: (e) => ctx.guard('updated', () => this.#onUpdated(e.registration, e.previous)),
      deregistered: (e) => ctx.guard('deregistered', () => this.#onEnded(e.registration, 'deregistered')),
      expired: (e) => ctx.guard('expired', () => this.#onEnded(e.registration, 'expired')),
      refused: (e) =>
        ctx.guard('refused', () =>
          ctx.writes.enqueue({ endpoint: e.endpoint, events: [registrationRefusedEvent(e, ctx.clock())] }),
        ),
    };
    ctx.server.on('registered', this.#listeners.registered);
    ctx.server.on('updated', this.#listeners.updated);
    ctx.server.on('deregistered', this.#listeners.deregistered);
    ctx.server.on('expired', this.#listeners.expired);
    ctx.server.on('refused', this.#listeners.refused);
  }

  /** Register and Update rows queued and not yet committed. */
  get uncommitted(): number {
    return this.#uncommitted;
  }

  /** A write settled (committed, or refused for good): a registration's row no longer counts as waiting. */
  settled(why: DeviceChange): void {
    if (why.kind === 'registered' || why.kind === 'updated') this.#uncommitted--;
  }

  stop(): void {
    const server = this.#ctx.server;
    server.off('registered', this.#listeners.registered);
    server.off('updated', this.#listeners.updated);
    server.off('deregistered', this.#listeners.deregistered);
    server.off('expired', this.#listeners.expired);
    server.off('refused', this.#listeners.refused);
  }

  /**
   * The server's `beforeAnswer` hook: queues the registration's row and resolves once it is
   * committed, so a Register is on disk before the device hears 2.01.
   */
  persistBeforeAnswer(change: RegistrationChange): Promise<void> {
    this.#prewritten.add(change.registration);
    return this.#ctx.writes.enqueueAndWait(this.#registrationWrite(change));
  }

  /**
   * Restored registrations (a restarted controller): marks those that ended meanwhile expired,
   * observes the others again and reads those never read.
   */
  async resume(
    db: Kysely<Database>,
    onCommitted: (endpoint: string, why: DeviceChange) => void,
  ): Promise<void> {
    const ctx = this.#ctx;
    for (const gone of await expireStaleRegistrations(db, ctx.clock())) {
      try {
        onCommitted(gone.endpoint, { kind: 'expired', registrationId: gone.registrationId });
      } catch (err) {
        ctx.log.error({ err, endpoint: gone.endpoint }, 'onDeviceChanged threw');
      }
    }
    const restored = [...ctx.server.registrations()];
    if (restored.length === 0) return;
    // Observations do not outlive the process that made them: a bake observes 3/0/11 again.
    await db
      .updateTable('devices')
      .set({ error_code_followed_in: null })
      .where('error_code_followed_in', 'is not', null)
      .where(sql<boolean>`endpoint = any(${sql.val(restored.map((r) => r.endpoint))}::text[])`)
      .execute();
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
      if (ctx.stopped) break;
      const full = unread.has(reg.endpoint);
      // Read before (by this or an earlier run): interrogated in the main lane, no probe first.
      if (!full) this.#scheduler.rememberAnswering(reg.endpoint);
      // A sleeping queue-mode device is reached when it next sends an Update.
      if (reg.queueMode) {
        if (full) this.#scheduler.retryLater(reg.endpoint);
        continue;
      }
      if (full || hasFirmwareObject(reg)) runs.push(this.#scheduler.interrogated(reg.endpoint, full));
    }
    await Promise.all(runs);
  }

  #registrationWrite(change: RegistrationChange): DeviceWrite {
    const reg = change.registration;
    const now = this.#ctx.clock();
    this.#uncommitted++;
    if (change.kind === 'registered') {
      return {
        endpoint: reg.endpoint,
        patch: registrationPatch(reg, now, this.#ctx.ownership?.replicaId),
        events: [registeredEvent(reg, change.previous, now)],
        change: { kind: 'registered', registrationId: reg.id },
      };
    }
    // Most Updates are keep-alives: they move last_seen_at and expires_at but are no event.
    const updated = registrationUpdatedEvent(reg, change.previous, now);
    return {
      endpoint: reg.endpoint,
      patch: registrationPatch(reg, now, this.#ctx.ownership?.replicaId),
      ...(updated === undefined ? {} : { events: [updated] }),
      change: { kind: 'updated', registrationId: reg.id },
    };
  }

  #onRegistered(reg: Registration, previous: Registration | undefined): void {
    // The server already dropped the observations of the previous registration (a dead port).
    if (!this.#prewritten.delete(reg)) {
      this.#ctx.writes.enqueue(this.#registrationWrite({ kind: 'registered', registration: reg, previous }));
    }
    this.#scheduler.interrogate(reg.endpoint, true);
  }

  #onUpdated(reg: Registration, previous: Registration): void {
    const { endpoint } = reg;
    if (!this.#prewritten.delete(reg)) {
      this.#ctx.writes.enqueue(this.#registrationWrite({ kind: 'updated', registration: reg, previous }));
    }
    const neverRead = this.#scheduler.awaitsRetry(endpoint);
    // A device waiting out a silence is asked again by the sweep, or at an Update once it is over.
    if (!this.#scheduler.mayTry(endpoint)) return;
    if (neverRead || (hasFirmwareObject(reg) && !this.#firmwareObserved(endpoint))) {
      this.#scheduler.interrogate(endpoint, neverRead);
    }
  }

  #firmwareObserved(endpoint: string): boolean {
    const observations = this.#ctx.server.observations;
    return (
      observations.has(endpoint, FIRMWARE_INSTANCE) ||
      FIRMWARE_PATHS.some((path) => observations.has(endpoint, path))
    );
  }

  #onEnded(reg: Registration, state: 'deregistered' | 'expired'): void {
    const now = this.#ctx.clock();
    this.#scheduler.registrationEnded(reg.endpoint, state === 'expired');
    this.#ctx.writes.enqueue({
      endpoint: reg.endpoint,
      end: { registrationId: reg.id, state },
      events: [state === 'expired' ? expiredEvent(reg, now) : deregisteredEvent(reg, now)],
      change: { kind: state, registrationId: reg.id },
    });
  }
}
