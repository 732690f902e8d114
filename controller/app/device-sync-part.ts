import type { Kysely } from 'kysely';
import { type DeviceChange, type DeviceSync, startDeviceSync } from '../devices/index.js';
import { writesFailing } from '../devices/write-queue.js';
import type { Logger } from '../log/index.js';
import type { DeviceOwnership } from '../replicas/index.js';
import type { Database } from '../store/index.js';
import type { Lwm2mPart } from './lwm2m-part.js';
import type { Runnable } from './runnable.js';

export interface DeviceSyncPartOptions {
  readonly lwm2m: Lwm2mPart;
  readonly db: Kysely<Database>;
  readonly clock: () => number;
  readonly logger: Logger;
  /** With several replicas: this one, recorded as the owner of the registrations it receives. */
  readonly ownership?: DeviceOwnership;
}

type DeviceChangeListener = (endpoint: string, why: DeviceChange) => void;

/**
 * Mirrors the LwM2M server's registrations and the devices' firmware reports into the database.
 * Registrations are committed before they are answered (see Lwm2mPart.answerAfter).
 */
export class DeviceSyncPart implements Runnable {
  readonly name = 'device sync';
  readonly #options: DeviceSyncPartOptions;
  readonly #listeners: DeviceChangeListener[] = [];
  #sync: DeviceSync | undefined;

  constructor(options: DeviceSyncPartOptions) {
    this.#options = options;
  }

  get sync(): DeviceSync {
    if (this.#sync === undefined) throw new Error(`${this.name} is not running`);
    return this.#sync;
  }

  /** Hears every device change once it is committed. */
  onDeviceChanged(listener: DeviceChangeListener): void {
    this.#listeners.push(listener);
  }

  /** Device writes dropped because the database refused their data; 0 before start. */
  writesQuarantined(): number {
    return this.#sync?.stats().writes.quarantined ?? 0;
  }

  /** Whether device writes have been failing long enough to report (readiness, metrics). */
  writesFailing(now: number): boolean {
    return this.#sync !== undefined && writesFailing(this.#sync.stats().writes, now);
  }

  async start(): Promise<void> {
    const { lwm2m } = this.#options;
    const sync = startDeviceSync({
      server: lwm2m.server,
      db: this.#options.db,
      clock: this.#options.clock,
      logger: this.#options.logger,
      ...(this.#options.ownership ? { ownership: this.#options.ownership } : {}),
      onDeviceChanged: (endpoint, why) => {
        for (const listener of this.#listeners) listener(endpoint, why);
      },
    });
    this.#sync = sync;
    lwm2m.answerAfter((change) => sync.persistBeforeAnswer(change));
  }

  async stop(): Promise<void> {
    const sync = this.#sync;
    this.#sync = undefined;
    await sync?.stop();
  }
}
