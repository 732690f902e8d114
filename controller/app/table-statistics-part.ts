import type { Kysely } from 'kysely';
import type { Logger } from '../log/index.js';
import { analyzeChangedTables, type Database } from '../store/index.js';
import type { Runnable } from './runnable.js';

export interface TableStatisticsPartOptions {
  readonly db: Kysely<Database>;
  readonly logger: Logger;
  /** How often the tables' change counts are looked at (a cheap read of a statistics view). */
  readonly intervalMs?: number;
}

/**
 * Keeps the planner's statistics of the fast-changing tables fresh on Postgres: within about a
 * second of a burst (a rollout's starts, a fleet's registrations), not autovacuum's minute.
 */
export class TableStatisticsPart implements Runnable {
  readonly name = 'table statistics';
  readonly #options: TableStatisticsPartOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #warned = false;

  constructor(options: TableStatisticsPartOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    this.#timer = setInterval(() => {
      this.#running ??= this.#check().finally(() => {
        this.#running = undefined;
      });
    }, this.#options.intervalMs ?? 1_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  async #check(): Promise<void> {
    try {
      const analyzed = await analyzeChangedTables(this.#options.db);
      if (analyzed.length > 0) this.#options.logger.debug({ tables: analyzed }, 'table statistics refreshed');
      this.#warned = false;
    } catch (error) {
      // Autovacuum still refreshes them, later: worth one line until it works again, not one a second.
      if (!this.#warned) this.#options.logger.warn({ err: error }, 'refreshing table statistics failed');
      this.#warned = true;
    }
  }
}
