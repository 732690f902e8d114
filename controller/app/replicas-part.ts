import type { Kysely } from 'kysely';
import type { Logger } from '../log/index.js';
import type { PlannerRole } from '../reconcile/index.js';
import {
  DEFAULT_HEARTBEAT_TIMING,
  type Fence,
  type HeartbeatTiming,
  LeaderElector,
  type LeaseTiming,
  ReplicaHeartbeat,
  type ReplicaInfo,
} from '../replicas/index.js';
import type { Database } from '../store/index.js';
import type { Runnable } from './runnable.js';

export interface ReplicaConfig {
  /** This process's id among the replicas (`--replica-id`); unique among live replicas. */
  readonly id: string;
  readonly version: string;
  readonly lease?: LeaseTiming;
  readonly heartbeat?: HeartbeatTiming;
  /** The database is this process's alone (PGlite): take the lease at once at start. */
  readonly exclusive?: boolean;
  /** Postgres: LISTEN for other replicas' work (default true); false leaves the timed passes alone. */
  readonly listen?: boolean;
  /** A monotonic clock for the lease's renew deadline (tests inject one). */
  readonly monotonic?: () => number;
}

/**
 * The replica's row and heartbeat, and its candidacy for the planner lease. Started before the
 * reconciler (its first acquisition is tried during start, so a lone replica plans from the first
 * pass) and stopped after it: a leader that stops releases the lease for the next one.
 */
export class ReplicasPart implements Runnable {
  readonly name = 'replica registry and planner lease';
  readonly elector: LeaderElector;
  readonly heartbeat: ReplicaHeartbeat;
  readonly #config: ReplicaConfig;

  constructor(options: {
    db: Kysely<Database>;
    config: ReplicaConfig;
    addresses: () => Readonly<Record<string, string>>;
    logger: Logger;
  }) {
    const { config, logger } = options;
    this.#config = config;
    this.elector = new LeaderElector({
      db: options.db,
      holder: config.id,
      ...(config.lease ? { timing: config.lease } : {}),
      ...(config.monotonic ? { monotonic: config.monotonic } : {}),
      ...(config.exclusive ? { exclusive: true } : {}),
      logger,
    });
    this.heartbeat = new ReplicaHeartbeat({
      db: options.db,
      info: (): ReplicaInfo => ({ id: config.id, version: config.version, addresses: options.addresses() }),
      timing: config.heartbeat ?? DEFAULT_HEARTBEAT_TIMING,
      onError: (error) => logger.warn({ err: error }, 'replica heartbeat failed'),
    });
  }

  get id(): string {
    return this.#config.id;
  }

  /** The reconciler's view: leader with the fence while the lease is held, else follower. */
  role(): PlannerRole {
    const fence = this.elector.current();
    return fence ? { kind: 'leader', fence } : { kind: 'follower' };
  }

  lost(fence: Fence): void {
    this.elector.lost(fence);
  }

  async start(): Promise<void> {
    await this.heartbeat.start();
    await this.elector.start();
  }

  async stop(): Promise<void> {
    await this.elector.stop();
    await this.heartbeat.stop();
  }
}
