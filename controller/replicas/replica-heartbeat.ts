import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import { deregisterReplica, heartbeat, type ReplicaInfo, registerReplica } from './replica-registry.js';

export interface HeartbeatTiming {
  /** How often the row's heartbeat_at moves to the database's now. */
  readonly intervalMs: number;
  /** Silent this long: shown as gone. */
  readonly goneAfterMs: number;
  /** Silent this long: the row is deleted (by any replica's heartbeat). */
  readonly forgetAfterMs: number;
}

export const DEFAULT_HEARTBEAT_TIMING: HeartbeatTiming = {
  intervalMs: 5_000,
  goneAfterMs: 30_000,
  forgetAfterMs: 3_600_000,
};

/** The replica's row in `replicas`: written at start, beaten on an interval, deleted at a clean stop. */
export class ReplicaHeartbeat {
  readonly #db: Kysely<Database>;
  readonly #info: () => ReplicaInfo;
  readonly #timing: HeartbeatTiming;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;

  constructor(options: {
    db: Kysely<Database>;
    /** Read at each beat: the addresses are known once the ports listen. */
    info: () => ReplicaInfo;
    timing?: HeartbeatTiming;
    onError?: (error: unknown) => void;
  }) {
    this.#db = options.db;
    this.#info = options.info;
    this.#timing = options.timing ?? DEFAULT_HEARTBEAT_TIMING;
    this.#onError = options.onError ?? (() => {});
  }

  get timing(): HeartbeatTiming {
    return this.#timing;
  }

  async start(): Promise<void> {
    await registerReplica(this.#db, this.#info());
    this.#timer = setInterval(() => {
      if (this.#beating) return;
      this.#beating = heartbeat(this.#db, this.#info(), this.#timing.forgetAfterMs)
        .then(() => {}, this.#onError)
        .finally(() => (this.#beating = undefined));
    }, this.#timing.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
    await deregisterReplica(this.#db, this.#info().id).catch(this.#onError);
  }
}
