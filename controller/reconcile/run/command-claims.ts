import type { Kysely } from 'kysely';
import type { RequestGate } from '../../lwm2m/index.js';
import type { DeviceOwnership } from '../../replicas/index.js';
import type { Database } from '../../store/index.js';
import { type CommandWanted, claimCommands, releaseCommands } from '../write/device-commands.js';
import type { DeviceOps } from '../write/device-ops.js';
import type { UpdateTransitions } from '../write/transition-writer.js';
import type { WorkSlot } from './update-work-queue.js';

export interface CommandTiming {
  /** How long a claim lasts, by the database clock. */
  readonly claimMs: number;
  /**
   * A device request begins only while at least this much of its claim is left (by this process's
   * monotonic clock, counted from before the claim was asked for), so it ends, answered or timed
   * out, before another replica may take the claim over.
   */
  readonly requestMs: number;
}

/**
 * 60 s claims whose requests begin within their first 30 s: a request to a silent device gives up
 * within about 21 s (FLEET_TIMING), and one answered with an empty ACK waits 30 s at most for the
 * separate response. A replica that died holding a claim loses it when its heartbeat goes quiet
 * (30 s), or at the latest when the claim expires.
 */
export const DEFAULT_COMMAND_TIMING: CommandTiming = { claimMs: 60_000, requestMs: 30_000 };

/** One claimed command while its task runs: requests and moves go through it, `end` gives it back. */
export interface CommandSession {
  readonly ops: DeviceOps;
  readonly transitions: UpdateTransitions;
  /** Deletes the claim unless the task's last move did (the statement that recorded the result). */
  end(): Promise<void>;
}

/** The claims one pass got: the updates whose device requests this replica may send now. */
export interface HeldCommands {
  has(updateId: number): boolean;
  /** `slot`: the work queue's, given back while a request waits for a sleeping device. */
  open(updateId: number, ops: DeviceOps, transitions: UpdateTransitions, slot?: WorkSlot): CommandSession;
}

/** No claim: what a pass holds when claiming failed. */
export const NONE_HELD: HeldCommands = { has: () => false, open: () => notHeld() };

export interface CommandClaimsOptions {
  readonly db: Kysely<Database>;
  /** Who claims, and which devices it may claim for. */
  readonly ownership: DeviceOwnership;
  readonly timing?: CommandTiming;
  /** Monotonic milliseconds (default performance.now). */
  readonly monotonic?: () => number;
}

/**
 * This replica's side of the command outbox (migration 0026): claims the device requests a pass
 * planned, in one statement per pass, and gives back those that settled without moving their
 * update, coalesced into one statement at a time (what is given back while one runs goes into the
 * next). Nothing is kept between passes: the claims are rows, and every pass derives them anew.
 */
export class CommandClaims {
  readonly #db: Kysely<Database>;
  readonly #ownership: DeviceOwnership;
  readonly #timing: CommandTiming;
  readonly #monotonic: () => number;
  #next: number[] | undefined;
  #nextDone: Promise<void> = Promise.resolve();
  #tail: Promise<void> = Promise.resolve();

  constructor(options: CommandClaimsOptions) {
    this.#db = options.db;
    this.#ownership = options.ownership;
    this.#timing = options.timing ?? DEFAULT_COMMAND_TIMING;
    this.#monotonic = options.monotonic ?? (() => performance.now());
  }

  get replicaId(): string {
    return this.#ownership.replicaId;
  }

  /**
   * Claims the wanted commands (`claimCommands`); with nothing wanted, runs the statement only when
   * `sweep` (it also deletes the expired claims of finished updates).
   */
  async claim(wanted: readonly CommandWanted[], sweep = false): Promise<HeldCommands> {
    if (wanted.length === 0 && !sweep) return NONE_HELD;
    const began = this.#monotonic();
    const held = await claimCommands(this.#db, wanted, this.#ownership, this.#timing.claimMs);
    const sendUntil = began + this.#timing.claimMs - this.#timing.requestMs;
    const expired = this.#expiry(sendUntil);
    return {
      has: (updateId) => held.has(updateId),
      open: (updateId, ops, transitions, slot) => {
        if (!held.has(updateId)) return notHeld();
        return this.#session(updateId, ops, transitions, sendUntil, expired, slot);
      },
    };
  }

  /** Gives this replica's claim on an update back; batched with the others given back meanwhile. */
  release(updateId: number): Promise<void> {
    if (this.#next === undefined) {
      const ids: number[] = [];
      this.#next = ids;
      const run = this.#tail
        .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
        .then(() => {
          if (this.#next === ids) this.#next = undefined;
          return releaseCommands(this.#db, ids, this.#ownership.replicaId);
        });
      this.#tail = run.catch(() => {});
      this.#nextDone = run;
    }
    this.#next.push(updateId);
    return this.#nextDone;
  }

  /**
   * When the requests of one claim may no longer begin: a request still waiting for a sleeping
   * device then ends unsent. Its timer is set only when a request of the claim first waits.
   */
  #expiry(sendUntil: number): () => Promise<string> {
    let expired: Promise<string> | undefined;
    return () => {
      expired ??= new Promise<string>((resolve) => {
        setTimeout(() => resolve(RAN_OUT.reason), Math.max(0, sendUntil - this.#monotonic())).unref();
      });
      return expired;
    };
  }

  #session(
    updateId: number,
    ops: DeviceOps,
    transitions: UpdateTransitions,
    sendUntil: number,
    expired: () => Promise<string>,
    slot: WorkSlot | undefined,
  ): CommandSession {
    let released = false;
    const open = () => this.#monotonic() < sendUntil;
    // The claim is checked when a request is asked for and again right before it is sent: one
    // that waited for a sleeping device past the claim's first half is not sent (another replica
    // may hold the claim by then), and one still waiting then leaves the device's queue.
    const gate: RequestGate = {
      release: () => slot?.release(),
      reacquire: async () => {
        await slot?.reacquire();
      },
      refusal: () => (open() ? undefined : RAN_OUT.reason),
      get expired() {
        return expired();
      },
    };
    return {
      ops: {
        writePackageUri: (endpoint, uri) =>
          open() ? ops.writePackageUri(endpoint, uri, gate) : Promise.resolve(RAN_OUT),
        executeUpdate: (endpoint) => (open() ? ops.executeUpdate(endpoint, gate) : Promise.resolve(RAN_OUT)),
        cancelUpdate: (endpoint) => (open() ? ops.cancelUpdate(endpoint, gate) : Promise.resolve(RAN_OUT)),
        pollFirmwareState: (endpoint) =>
          open() ? ops.pollFirmwareState(endpoint, gate) : Promise.resolve(undefined),
        readFirmwareVersion: (endpoint) =>
          open() ? ops.readFirmwareVersion(endpoint, gate) : Promise.resolve(),
        readErrorCode: (endpoint, how) =>
          open() ? ops.readErrorCode(endpoint, how, gate) : Promise.resolve(),
      },
      transitions: {
        move: async (transition) => {
          const moved = await transitions.move(transition);
          if (moved) released = transition.keepCommand !== true;
          return moved;
        },
      },
      end: () => (released ? Promise.resolve() : this.release(updateId)),
    };
  }
}

const RAN_OUT = { kind: 'unreachable', reason: 'its command claim ran out before it was sent' } as const;

function notHeld(): never {
  throw new Error('no claim on this update: its device requests are not this replica’s to send');
}
